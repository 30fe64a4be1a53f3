"""A stand-in Android phone for tests: adbd's device side of the adb protocol over TCP.

Written from AOSP's protocol documents (adb's protocol.txt, SERVICES.TXT, SYNC.TXT,
shell_protocol.h): `wire` speaks the transport (CNXN/AUTH/OPEN/OKAY/WRTE/CLSE),
`sync` the file service, `toysh` the few shell commands a runner needs, run for real
inside a folder that stands in for the phone's storage. `tests.support.adb_phone`
puts them together as a Phone a test can plug in and unplug.
"""
