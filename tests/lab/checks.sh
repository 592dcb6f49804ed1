# shellcheck shell=bash
# natpilot lab tests: one way to count checks and close, sourced by lib.sh
# (and by the few tests that build their own namespaces without it, such as
# test_update.sh). Nothing here touches the network.
#
# lab_ok DESC / lab_bad DESC count one passed / failed check and print it;
# lab_check DESC EXPECTED ACTUAL compares two strings; lab_done prints the
# closing line "N passed, N failed" that CI reads and exits 0 when nothing
# failed, 1 otherwise. A check that cannot go on (the lab did not come up)
# still uses lab_fail.
LAB_PASSED=0
LAB_FAILED=0

lab_ok() {
    LAB_PASSED=$((LAB_PASSED + 1))
    printf '  ok   %s\n' "$*"
}

lab_bad() {
    LAB_FAILED=$((LAB_FAILED + 1))
    printf '  FAIL %s\n' "$*"
}

lab_check() { # lab_check DESC EXPECTED ACTUAL
    if [ "$2" = "$3" ]; then
        lab_ok "$1"
    else
        lab_bad "$1: expected '$2', got '$3'"
    fi
}

lab_done() {
    echo "$LAB_PASSED passed, $LAB_FAILED failed"
    [ "$LAB_FAILED" = 0 ]
    exit $?
}

