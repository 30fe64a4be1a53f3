"""Title parsing: every real title, plus the awkward forms MegEngine can print."""

import pytest

from analysis.dump_bin import read_header
from analysis.errors import AnalysisError, TitleError
from analysis.title import Title, format_title, format_var_info, parse_title

CN = 'CompNode("cpu0:0" from "cpu0:0")'


def item(
    var_id,
    name="x",
    opr=None,
    opr_type="Elemwise",
    layout="{2(3),3(1) Float32}",
    dtype="Float32",
    kind="layout",
    tail="s, 4, 8",
):
    opr = name if opr is None else opr
    return f"{{id:{var_id}, {kind}:{layout}, {dtype}, owner:{opr}{{{opr_type}}}, name:{name}, slot:0, {CN}, {tail}}}"


def title(var, *inputs, numbered=None):
    if numbered is None:
        numbered = len(inputs) > 1
    parts = [f"{k}={x}" if numbered else x for k, x in enumerate(inputs)]
    return f"var={var} owner_opr_inputs=" + " ".join(parts)


def test_every_fixture_title_parses_and_matches_its_file(megengine_fixtures):
    files = sorted(megengine_fixtures.glob("runs/*/*/bin/*"))
    for path in files:
        header = read_header(path)
        parsed = parse_title(header.title)
        var = parsed.var
        assert parsed.prefix_input is None
        assert var.id == header.var_id, path
        assert var.shape == header.shape and var.dtype == header.dtype.name
        assert var.layout_kind == "layout" and len(var.strides) == len(var.shape)
        assert var.comp_node == CN and var.storage == "s"
        for inp in parsed.inputs:
            assert inp.id < var.id  # MegEngine allocates ids in construction order


def test_no_inputs(megengine_fixtures):
    parsed = parse_title(read_header(megengine_fixtures / "runs/mlp/default/bin/000001").title)
    assert parsed.inputs == () and parsed.input_ids == ()
    v = parsed.var
    assert (v.id, v.owner_opr, v.owner_type, v.name, v.slot) == (1, "fc2.bias", "ImmutableTensor", "fc2.bias", 0)
    assert (v.shape, v.strides, v.format, v.infer_shape, v.infer_value) == ((32,), (1,), None, 2, 2)


def test_one_input_has_no_index_prefix(megengine_fixtures):
    parsed = parse_title(read_header(megengine_fixtures / "runs/mlp/default/bin/000012").title)
    assert parsed.var.owner_type == "Elemwise" and parsed.var.name == "RELU"
    assert parsed.input_ids == (16,)
    assert parsed.inputs[0].owner_opr == "fc1.ADD"


def test_several_inputs_in_order(megengine_fixtures):
    parsed = parse_title(read_header(megengine_fixtures / "runs/mlp/default/bin/00001a").title)
    assert parsed.input_ids == (3, 18, 24)
    assert parsed.var.owner_opr == "FUSE_MUL_ADD3(const<0.5>[6],RELU,MUL[0])[174]"
    assert parsed.var.name == "ADD[0]"


def test_host_value_input_in_shape_form(megengine_fixtures):
    parsed = parse_title(read_header(megengine_fixtures / "runs/tiny_cnn/default/bin/000029").title)
    assert parsed.input_ids == (28, 39)
    host = parsed.inputs[1]
    assert (host.layout_kind, host.shape, host.strides, host.dtype) == ("shape", (2,), None, "Int32")
    assert (host.owner_opr, host.owner_type, host.infer_value) == ("Concat", "Concat", 4)


def test_opr_name_with_braces_takes_the_last_brace_group_as_type(megengine_fixtures):
    parsed = parse_title(read_header(megengine_fixtures / "runs/tiny_cnn/default/bin/000010").title)
    assert parsed.var.owner_opr == "FUSE_ADD_RELU(conv[239],const{1,8,1,1}[252])[372]"
    assert parsed.var.owner_type == "Elemwise" and parsed.var.name == "relu1.RELU"
    assert parsed.input_ids == (9, 14)


def test_input_dump_prefix():
    parsed = parse_title("inp1: " + title(item(7), item(3), item(5)))
    assert parsed.prefix_input == 1 and parsed.var.id == 7 and parsed.input_ids == (3, 5)


@pytest.mark.parametrize(
    "name",
    [
        "a, b",
        "x{y}",
        "{id:3, layout:{1(1) Float32}",
        "}, name:trap",
        "w owner_opr_inputs=0={id:1, ",
        "a 1={id:2, b",
        "slot:0, " + CN + ", s, 4, 8",
        "",
        "name:",
        "中文",
        "z}",
    ],
)
def test_free_text_names_do_not_confuse_the_parser(name):
    text = title(item(9, name=name, opr=name + "[9]"), item(4, name=name), item(6, name=name))
    parsed = parse_title(text)
    assert parsed.var.name == name and parsed.var.owner_opr == name + "[9]"
    assert parsed.input_ids == (4, 6)
    assert [v.name for v in parsed.inputs] == [name, name]


def test_name_that_looks_like_the_end_of_an_item_backtracks():
    # The var name holds a complete fake item tail followed by " owner_opr_inputs=1" - only the
    # reading where the name ends later makes the whole title parse.
    tricky = "a, slot:0, " + CN + ", s, 4, 8} owner_opr_inputs=1"
    parsed = parse_title(title(item(9, name=tricky), item(4)))
    assert parsed.var.name == tricky and parsed.input_ids == (4,)
    tricky_input = "b, slot:0, " + CN + ", s, 4, 8} 1={id"
    parsed = parse_title(title(item(9), item(4, name=tricky_input), item(5)))
    assert parsed.inputs[0].name == tricky_input and parsed.input_ids == (4, 5)


def test_layout_with_format_zero_and_negative_strides():
    layout = "{2(0),3(-1),4(1) @ Image2DPack4TensorFormat Float16}"
    parsed = parse_title(title(item(3, layout=layout, dtype="Float16")))
    v = parsed.var
    assert (v.shape, v.strides, v.format, v.dtype) == ((2, 3, 4), (0, -1, 1), "Image2DPack4TensorFormat", "Float16")


def test_dynamic_storage_and_other_comp_nodes():
    text = title(item(3, tail="d, 1, 8").replace(CN, 'CompNode("gpu0:1" from "xpux:0")'))
    v = parse_title(text).var
    assert v.storage == "d" and v.comp_node == 'CompNode("gpu0:1" from "xpux:0")' and v.infer_shape == 1


def test_quantized_dtype_name_and_scalar_shape():
    v = parse_title(title(item(3, layout="{1(1) QuantizedS8}", dtype="QuantizedS8"))).var
    assert v.dtype == "QuantizedS8" and v.shape == (1,)


def test_bin_out_dump_space_after_inputs_equals():
    parsed = parse_title(f"var={item(3)} owner_opr_inputs= {item(1)}")
    assert parsed.input_ids == (1,)
    parsed = parse_title(f"var={item(3)} owner_opr_inputs= ")
    assert parsed.input_ids == ()


def test_many_inputs_do_not_hit_the_recursion_limit():
    parsed = parse_title(title(item(5000), *[item(k) for k in range(2500)]))
    assert parsed.input_ids == tuple(range(2500))


@pytest.mark.parametrize(
    "text,reason",
    [
        ("", "expected 'var={id:' at the start"),
        ("val={id:1}", "expected 'var={id:' at the start"),
        ("var={id:x, layout:{1(1) Float32}", "expected '{id:N, layout:'"),
        ("var={id:1, layout:{1(1) Float32", "unbalanced '{'"),
        ("var={id:1, layout:{1(1)Float32}, Float32, owner:", "layout has no dtype"),
        ("var={id:1, layout:{1[1] Float32}, Float32, owner:", "is not size(stride)"),
        ("var={id:1, layout:{1(1) Float32}, Float16, owner:", "layout dtype Float32 differs from dtype Float16"),
        ("var={id:1, layout:{1(1) Float32} Float32 owner:", "expected ', <DType>, owner:'"),
        ("var={id:1, layout:{1(1) Float32}, Float32, owner:x{Y}, name:y, slot:0}", "var 1: expected 'owner:OPR{TYPE}"),
        ("var={id:1, shape:{a,b}, Int32, owner:", "is not a list of integers"),
    ],
)
def test_bad_titles_name_the_problem(text, reason):
    with pytest.raises(TitleError) as info:
        parse_title(text)
    assert reason in str(info.value)
    assert isinstance(info.value, AnalysisError)
    assert "\n" not in str(info.value)


def test_bad_inputs_part():
    with pytest.raises(TitleError, match="expected ' owner_opr_inputs='"):
        parse_title(f"var={item(3)}")
    with pytest.raises(TitleError, match="expected nothing, '{id:' or '0={id:'"):
        parse_title(f"var={item(3)} owner_opr_inputs=junk")
    with pytest.raises(TitleError, match="cannot split the numbered inputs"):
        parse_title(f"var={item(3)} owner_opr_inputs=0={item(1)} 2={item(2)}")
    with pytest.raises(TitleError, match="single input does not end"):
        parse_title(f"var={item(3)} owner_opr_inputs={item(1)} junk")


def test_error_positions_point_into_the_title():
    text = f"var={item(3)} owner_opr_inputs=junk"
    with pytest.raises(TitleError) as info:
        parse_title(text)
    assert info.value.position == text.index("junk")
    assert str(info.value).startswith(f"title character {text.index('junk')}: ")
    assert str(info.value.with_path("bin/000003")).startswith("bin/000003: title character ")


def test_formatting_a_parsed_fixture_title_gives_it_back(megengine_fixtures):
    for path in sorted(megengine_fixtures.glob("runs/*/default/bin/*")):
        text = read_header(path).title
        assert format_title(parse_title(text)) == text, path


@pytest.mark.parametrize(
    "text",
    [
        "inp1: " + title(item(7), item(3), item(5)),
        title(item(3, layout="{2(0),3(-1),4(1) @ Image2DPack4TensorFormat Float16}", dtype="Float16")),
        title(item(9, name="a, b {c}"), item(2, kind="shape", layout="{2}", dtype="Int32")),
        title(item(9), item(4)),
        f"var={item(1)} owner_opr_inputs=",
    ],
)
def test_format_is_the_inverse_of_parse(text):
    parsed = parse_title(text)
    assert format_title(parsed) == text
    assert parse_title(format_title(parsed)) == parsed
    assert isinstance(parsed, Title) and format_var_info(parsed.var).startswith("{id:")


def test_comp_node_locators():
    v = parse_title(title(item(3).replace(CN, 'CompNode("cpu0:0" from "xpux:0")'))).var
    assert (v.comp_node_physical, v.comp_node_logical) == ("cpu0:0", "xpux:0")
    odd = parse_title(title(item(3).replace(CN, "CompNode(weird)"))).var
    assert odd.comp_node == "CompNode(weird)" and odd.comp_node_physical is None
