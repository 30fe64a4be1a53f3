from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RunState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RUN_STATE_UNSPECIFIED: _ClassVar[RunState]
    QUEUED: _ClassVar[RunState]
    RUNNING: _ClassVar[RunState]
    SUCCEEDED: _ClassVar[RunState]
    FAILED: _ClassVar[RunState]
    TIMED_OUT: _ClassVar[RunState]
    CANCELLED: _ClassVar[RunState]
    QUOTA_EXCEEDED: _ClassVar[RunState]
    START_FAILED: _ClassVar[RunState]

class LogStream(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LOG_STREAM_UNSPECIFIED: _ClassVar[LogStream]
    STDOUT: _ClassVar[LogStream]
    STDERR: _ClassVar[LogStream]
RUN_STATE_UNSPECIFIED: RunState
QUEUED: RunState
RUNNING: RunState
SUCCEEDED: RunState
FAILED: RunState
TIMED_OUT: RunState
CANCELLED: RunState
QUOTA_EXCEEDED: RunState
START_FAILED: RunState
LOG_STREAM_UNSPECIFIED: LogStream
STDOUT: LogStream
STDERR: LogStream

class GetFactsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RunnerInfo(_message.Message):
    __slots__ = ("name", "path", "version", "available")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    name: str
    path: str
    version: str
    available: bool
    def __init__(self, name: _Optional[str] = ..., path: _Optional[str] = ..., version: _Optional[str] = ..., available: bool = ...) -> None: ...

class Facts(_message.Message):
    __slots__ = ("agent_version", "protocol", "hostname", "arch", "os", "os_release", "cpu_model", "cpu_cores", "mem_total_bytes", "mem_available_bytes", "disk_free_bytes", "quota_bytes", "used_bytes", "python_version", "runners", "phone")
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    ARCH_FIELD_NUMBER: _ClassVar[int]
    OS_FIELD_NUMBER: _ClassVar[int]
    OS_RELEASE_FIELD_NUMBER: _ClassVar[int]
    CPU_MODEL_FIELD_NUMBER: _ClassVar[int]
    CPU_CORES_FIELD_NUMBER: _ClassVar[int]
    MEM_TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    MEM_AVAILABLE_BYTES_FIELD_NUMBER: _ClassVar[int]
    DISK_FREE_BYTES_FIELD_NUMBER: _ClassVar[int]
    QUOTA_BYTES_FIELD_NUMBER: _ClassVar[int]
    USED_BYTES_FIELD_NUMBER: _ClassVar[int]
    PYTHON_VERSION_FIELD_NUMBER: _ClassVar[int]
    RUNNERS_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    agent_version: str
    protocol: str
    hostname: str
    arch: str
    os: str
    os_release: str
    cpu_model: str
    cpu_cores: int
    mem_total_bytes: int
    mem_available_bytes: int
    disk_free_bytes: int
    quota_bytes: int
    used_bytes: int
    python_version: str
    runners: _containers.RepeatedCompositeFieldContainer[RunnerInfo]
    phone: PhoneFacts
    def __init__(self, agent_version: _Optional[str] = ..., protocol: _Optional[str] = ..., hostname: _Optional[str] = ..., arch: _Optional[str] = ..., os: _Optional[str] = ..., os_release: _Optional[str] = ..., cpu_model: _Optional[str] = ..., cpu_cores: _Optional[int] = ..., mem_total_bytes: _Optional[int] = ..., mem_available_bytes: _Optional[int] = ..., disk_free_bytes: _Optional[int] = ..., quota_bytes: _Optional[int] = ..., used_bytes: _Optional[int] = ..., python_version: _Optional[str] = ..., runners: _Optional[_Iterable[_Union[RunnerInfo, _Mapping]]] = ..., phone: _Optional[_Union[PhoneFacts, _Mapping]] = ...) -> None: ...

class PhoneFacts(_message.Message):
    __slots__ = ("serial", "model", "abi", "android_version", "sdk", "soc", "platform", "workdir_free_bytes")
    SERIAL_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    ABI_FIELD_NUMBER: _ClassVar[int]
    ANDROID_VERSION_FIELD_NUMBER: _ClassVar[int]
    SDK_FIELD_NUMBER: _ClassVar[int]
    SOC_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    WORKDIR_FREE_BYTES_FIELD_NUMBER: _ClassVar[int]
    serial: str
    model: str
    abi: str
    android_version: str
    sdk: str
    soc: str
    platform: str
    workdir_free_bytes: int
    def __init__(self, serial: _Optional[str] = ..., model: _Optional[str] = ..., abi: _Optional[str] = ..., android_version: _Optional[str] = ..., sdk: _Optional[str] = ..., soc: _Optional[str] = ..., platform: _Optional[str] = ..., workdir_free_bytes: _Optional[int] = ...) -> None: ...

class HaveBlobsRequest(_message.Message):
    __slots__ = ("sha256",)
    SHA256_FIELD_NUMBER: _ClassVar[int]
    sha256: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, sha256: _Optional[_Iterable[str]] = ...) -> None: ...

class HaveBlobsResponse(_message.Message):
    __slots__ = ("missing",)
    MISSING_FIELD_NUMBER: _ClassVar[int]
    missing: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, missing: _Optional[_Iterable[str]] = ...) -> None: ...

class BlobHeader(_message.Message):
    __slots__ = ("sha256", "size")
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    sha256: str
    size: int
    def __init__(self, sha256: _Optional[str] = ..., size: _Optional[int] = ...) -> None: ...

class UploadBlobChunk(_message.Message):
    __slots__ = ("header", "data")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    header: BlobHeader
    data: bytes
    def __init__(self, header: _Optional[_Union[BlobHeader, _Mapping]] = ..., data: _Optional[bytes] = ...) -> None: ...

class UploadBlobResponse(_message.Message):
    __slots__ = ("sha256", "size", "already_present")
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    ALREADY_PRESENT_FIELD_NUMBER: _ClassVar[int]
    sha256: str
    size: int
    already_present: bool
    def __init__(self, sha256: _Optional[str] = ..., size: _Optional[int] = ..., already_present: bool = ...) -> None: ...

class Input(_message.Message):
    __slots__ = ("name", "blob", "literal", "shape")
    NAME_FIELD_NUMBER: _ClassVar[int]
    BLOB_FIELD_NUMBER: _ClassVar[int]
    LITERAL_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    name: str
    blob: BlobInput
    literal: str
    shape: Shape
    def __init__(self, name: _Optional[str] = ..., blob: _Optional[_Union[BlobInput, _Mapping]] = ..., literal: _Optional[str] = ..., shape: _Optional[_Union[Shape, _Mapping]] = ...) -> None: ...

class BlobInput(_message.Message):
    __slots__ = ("sha256", "format")
    SHA256_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    sha256: str
    format: str
    def __init__(self, sha256: _Optional[str] = ..., format: _Optional[str] = ...) -> None: ...

class Shape(_message.Message):
    __slots__ = ("dims",)
    DIMS_FIELD_NUMBER: _ClassVar[int]
    dims: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, dims: _Optional[_Iterable[int]] = ...) -> None: ...

class RunSpec(_message.Message):
    __slots__ = ("runner", "model_sha256", "inputs", "bin_io_dump", "io_dump", "iter", "warmup_iter", "reproducible", "fast_run", "fast_run_algo_policy_sha256", "write_fast_run_algo_policy", "cpu", "cpu_default", "multithread", "cuda", "lite", "verbose", "model_info", "extra_flags", "megdnn_dbg", "env", "timeout_s", "label", "options")
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    RUNNER_FIELD_NUMBER: _ClassVar[int]
    MODEL_SHA256_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    BIN_IO_DUMP_FIELD_NUMBER: _ClassVar[int]
    IO_DUMP_FIELD_NUMBER: _ClassVar[int]
    ITER_FIELD_NUMBER: _ClassVar[int]
    WARMUP_ITER_FIELD_NUMBER: _ClassVar[int]
    REPRODUCIBLE_FIELD_NUMBER: _ClassVar[int]
    FAST_RUN_FIELD_NUMBER: _ClassVar[int]
    FAST_RUN_ALGO_POLICY_SHA256_FIELD_NUMBER: _ClassVar[int]
    WRITE_FAST_RUN_ALGO_POLICY_FIELD_NUMBER: _ClassVar[int]
    CPU_FIELD_NUMBER: _ClassVar[int]
    CPU_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    MULTITHREAD_FIELD_NUMBER: _ClassVar[int]
    CUDA_FIELD_NUMBER: _ClassVar[int]
    LITE_FIELD_NUMBER: _ClassVar[int]
    VERBOSE_FIELD_NUMBER: _ClassVar[int]
    MODEL_INFO_FIELD_NUMBER: _ClassVar[int]
    EXTRA_FLAGS_FIELD_NUMBER: _ClassVar[int]
    MEGDNN_DBG_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_S_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    runner: str
    model_sha256: str
    inputs: _containers.RepeatedCompositeFieldContainer[Input]
    bin_io_dump: bool
    io_dump: bool
    iter: int
    warmup_iter: int
    reproducible: bool
    fast_run: bool
    fast_run_algo_policy_sha256: str
    write_fast_run_algo_policy: bool
    cpu: bool
    cpu_default: bool
    multithread: int
    cuda: bool
    lite: bool
    verbose: bool
    model_info: bool
    extra_flags: _containers.RepeatedScalarFieldContainer[str]
    megdnn_dbg: int
    env: _containers.ScalarMap[str, str]
    timeout_s: float
    label: str
    options: GraphOptions
    def __init__(self, runner: _Optional[str] = ..., model_sha256: _Optional[str] = ..., inputs: _Optional[_Iterable[_Union[Input, _Mapping]]] = ..., bin_io_dump: bool = ..., io_dump: bool = ..., iter: _Optional[int] = ..., warmup_iter: _Optional[int] = ..., reproducible: bool = ..., fast_run: bool = ..., fast_run_algo_policy_sha256: _Optional[str] = ..., write_fast_run_algo_policy: bool = ..., cpu: bool = ..., cpu_default: bool = ..., multithread: _Optional[int] = ..., cuda: bool = ..., lite: bool = ..., verbose: bool = ..., model_info: bool = ..., extra_flags: _Optional[_Iterable[str]] = ..., megdnn_dbg: _Optional[int] = ..., env: _Optional[_Mapping[str, str]] = ..., timeout_s: _Optional[float] = ..., label: _Optional[str] = ..., options: _Optional[_Union[GraphOptions, _Mapping]] = ...) -> None: ...

class GraphOptions(_message.Message):
    __slots__ = ("enable_nchw4", "enable_chwn4", "enable_nchw44", "enable_nchw44_dot", "enable_nchw88", "enable_nchw32", "enable_nchw64", "enable_nhwcd4", "enable_fuse_preprocess", "weight_preprocess", "enable_fuse_conv_bias_nonlinearity", "enable_fuse_conv_bias_with_z", "const_shape", "fake_first", "no_sanity_check", "record_comp_seq", "record_comp_seq2", "disable_mem_opt", "workspace_limit", "layout_transform", "enable_jit")
    ENABLE_NCHW4_FIELD_NUMBER: _ClassVar[int]
    ENABLE_CHWN4_FIELD_NUMBER: _ClassVar[int]
    ENABLE_NCHW44_FIELD_NUMBER: _ClassVar[int]
    ENABLE_NCHW44_DOT_FIELD_NUMBER: _ClassVar[int]
    ENABLE_NCHW88_FIELD_NUMBER: _ClassVar[int]
    ENABLE_NCHW32_FIELD_NUMBER: _ClassVar[int]
    ENABLE_NCHW64_FIELD_NUMBER: _ClassVar[int]
    ENABLE_NHWCD4_FIELD_NUMBER: _ClassVar[int]
    ENABLE_FUSE_PREPROCESS_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_PREPROCESS_FIELD_NUMBER: _ClassVar[int]
    ENABLE_FUSE_CONV_BIAS_NONLINEARITY_FIELD_NUMBER: _ClassVar[int]
    ENABLE_FUSE_CONV_BIAS_WITH_Z_FIELD_NUMBER: _ClassVar[int]
    CONST_SHAPE_FIELD_NUMBER: _ClassVar[int]
    FAKE_FIRST_FIELD_NUMBER: _ClassVar[int]
    NO_SANITY_CHECK_FIELD_NUMBER: _ClassVar[int]
    RECORD_COMP_SEQ_FIELD_NUMBER: _ClassVar[int]
    RECORD_COMP_SEQ2_FIELD_NUMBER: _ClassVar[int]
    DISABLE_MEM_OPT_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_LIMIT_FIELD_NUMBER: _ClassVar[int]
    LAYOUT_TRANSFORM_FIELD_NUMBER: _ClassVar[int]
    ENABLE_JIT_FIELD_NUMBER: _ClassVar[int]
    enable_nchw4: bool
    enable_chwn4: bool
    enable_nchw44: bool
    enable_nchw44_dot: bool
    enable_nchw88: bool
    enable_nchw32: bool
    enable_nchw64: bool
    enable_nhwcd4: bool
    enable_fuse_preprocess: bool
    weight_preprocess: bool
    enable_fuse_conv_bias_nonlinearity: bool
    enable_fuse_conv_bias_with_z: bool
    const_shape: bool
    fake_first: bool
    no_sanity_check: bool
    record_comp_seq: bool
    record_comp_seq2: bool
    disable_mem_opt: bool
    workspace_limit: int
    layout_transform: str
    enable_jit: bool
    def __init__(self, enable_nchw4: bool = ..., enable_chwn4: bool = ..., enable_nchw44: bool = ..., enable_nchw44_dot: bool = ..., enable_nchw88: bool = ..., enable_nchw32: bool = ..., enable_nchw64: bool = ..., enable_nhwcd4: bool = ..., enable_fuse_preprocess: bool = ..., weight_preprocess: bool = ..., enable_fuse_conv_bias_nonlinearity: bool = ..., enable_fuse_conv_bias_with_z: bool = ..., const_shape: bool = ..., fake_first: bool = ..., no_sanity_check: bool = ..., record_comp_seq: bool = ..., record_comp_seq2: bool = ..., disable_mem_opt: bool = ..., workspace_limit: _Optional[int] = ..., layout_transform: _Optional[str] = ..., enable_jit: bool = ...) -> None: ...

class RunRef(_message.Message):
    __slots__ = ("run_id",)
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    def __init__(self, run_id: _Optional[str] = ...) -> None: ...

class FileEntry(_message.Message):
    __slots__ = ("name", "size", "sha256", "var_id", "input_index")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    VAR_ID_FIELD_NUMBER: _ClassVar[int]
    INPUT_INDEX_FIELD_NUMBER: _ClassVar[int]
    name: str
    size: int
    sha256: str
    var_id: int
    input_index: int
    def __init__(self, name: _Optional[str] = ..., size: _Optional[int] = ..., sha256: _Optional[str] = ..., var_id: _Optional[int] = ..., input_index: _Optional[int] = ...) -> None: ...

class Queued(_message.Message):
    __slots__ = ("position",)
    POSITION_FIELD_NUMBER: _ClassVar[int]
    position: int
    def __init__(self, position: _Optional[int] = ...) -> None: ...

class Started(_message.Message):
    __slots__ = ("argv", "env", "pid")
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ARGV_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    argv: _containers.RepeatedScalarFieldContainer[str]
    env: _containers.ScalarMap[str, str]
    pid: int
    def __init__(self, argv: _Optional[_Iterable[str]] = ..., env: _Optional[_Mapping[str, str]] = ..., pid: _Optional[int] = ...) -> None: ...

class LogLine(_message.Message):
    __slots__ = ("stream", "text")
    STREAM_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    stream: LogStream
    text: str
    def __init__(self, stream: _Optional[_Union[LogStream, str]] = ..., text: _Optional[str] = ...) -> None: ...

class Finished(_message.Message):
    __slots__ = ("state", "exit_code", "signal", "wall_s", "peak_rss_bytes", "error", "manifest")
    STATE_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    WALL_S_FIELD_NUMBER: _ClassVar[int]
    PEAK_RSS_BYTES_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    MANIFEST_FIELD_NUMBER: _ClassVar[int]
    state: RunState
    exit_code: int
    signal: int
    wall_s: float
    peak_rss_bytes: int
    error: str
    manifest: _containers.RepeatedCompositeFieldContainer[FileEntry]
    def __init__(self, state: _Optional[_Union[RunState, str]] = ..., exit_code: _Optional[int] = ..., signal: _Optional[int] = ..., wall_s: _Optional[float] = ..., peak_rss_bytes: _Optional[int] = ..., error: _Optional[str] = ..., manifest: _Optional[_Iterable[_Union[FileEntry, _Mapping]]] = ...) -> None: ...

class RunEvent(_message.Message):
    __slots__ = ("run_id", "queued", "started", "log", "file_complete", "finished")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    QUEUED_FIELD_NUMBER: _ClassVar[int]
    STARTED_FIELD_NUMBER: _ClassVar[int]
    LOG_FIELD_NUMBER: _ClassVar[int]
    FILE_COMPLETE_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    queued: Queued
    started: Started
    log: LogLine
    file_complete: FileEntry
    finished: Finished
    def __init__(self, run_id: _Optional[str] = ..., queued: _Optional[_Union[Queued, _Mapping]] = ..., started: _Optional[_Union[Started, _Mapping]] = ..., log: _Optional[_Union[LogLine, _Mapping]] = ..., file_complete: _Optional[_Union[FileEntry, _Mapping]] = ..., finished: _Optional[_Union[Finished, _Mapping]] = ...) -> None: ...

class RunInfo(_message.Message):
    __slots__ = ("run_id", "state", "label", "queue_position", "finished")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    QUEUE_POSITION_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    state: RunState
    label: str
    queue_position: int
    finished: Finished
    def __init__(self, run_id: _Optional[str] = ..., state: _Optional[_Union[RunState, str]] = ..., label: _Optional[str] = ..., queue_position: _Optional[int] = ..., finished: _Optional[_Union[Finished, _Mapping]] = ...) -> None: ...

class CancelResponse(_message.Message):
    __slots__ = ("state",)
    STATE_FIELD_NUMBER: _ClassVar[int]
    state: RunState
    def __init__(self, state: _Optional[_Union[RunState, str]] = ...) -> None: ...

class ReleaseResponse(_message.Message):
    __slots__ = ("freed_bytes",)
    FREED_BYTES_FIELD_NUMBER: _ClassVar[int]
    freed_bytes: int
    def __init__(self, freed_bytes: _Optional[int] = ...) -> None: ...

class FetchRequest(_message.Message):
    __slots__ = ("run_id", "names", "have", "chunk_size")
    class HaveEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    NAMES_FIELD_NUMBER: _ClassVar[int]
    HAVE_FIELD_NUMBER: _ClassVar[int]
    CHUNK_SIZE_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    names: _containers.RepeatedScalarFieldContainer[str]
    have: _containers.ScalarMap[str, str]
    chunk_size: int
    def __init__(self, run_id: _Optional[str] = ..., names: _Optional[_Iterable[str]] = ..., have: _Optional[_Mapping[str, str]] = ..., chunk_size: _Optional[int] = ...) -> None: ...

class FileStart(_message.Message):
    __slots__ = ("name", "size")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    name: str
    size: int
    def __init__(self, name: _Optional[str] = ..., size: _Optional[int] = ...) -> None: ...

class FileEnd(_message.Message):
    __slots__ = ("name", "sha256")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    name: str
    sha256: str
    def __init__(self, name: _Optional[str] = ..., sha256: _Optional[str] = ...) -> None: ...

class FetchDone(_message.Message):
    __slots__ = ("files", "bytes", "skipped")
    FILES_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    files: int
    bytes: int
    skipped: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, files: _Optional[int] = ..., bytes: _Optional[int] = ..., skipped: _Optional[_Iterable[str]] = ...) -> None: ...

class FetchChunk(_message.Message):
    __slots__ = ("start", "data", "end", "done")
    START_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    start: FileStart
    data: bytes
    end: FileEnd
    done: FetchDone
    def __init__(self, start: _Optional[_Union[FileStart, _Mapping]] = ..., data: _Optional[bytes] = ..., end: _Optional[_Union[FileEnd, _Mapping]] = ..., done: _Optional[_Union[FetchDone, _Mapping]] = ...) -> None: ...
