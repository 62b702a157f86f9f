#!/usr/bin/env bash
# The isolated compile, end to end: WEIR_INJECT_CODEGEN_FAULT makes the compile worker fail
# (LLVM fatal error, abort, memory limit) and every command that compiles reports an error and
# exits 1, not a signal, with a message naming what happened; nothing is written. A normal
# compile gives the bytes WEIR_CODEGEN_IN_PROCESS=1 gives. As root also check --kernel, test
# --kernel and load --dry-run (nothing attached: the policy fails before the kernel).
# Usage: codegen_fault_test.sh WEIR_BINARY REPO_ROOT
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
begin_cli_test "$@"
skipped=0
POLICY=examples/edge.weir

# expect_no_llvm_abort NAME: the last output has no message of LLVM's own fatal-error handler.
expect_no_llvm_abort() {
    if grep -qF "LLVM ERROR" "$TMP/out"; then bad "$1: LLVM's own handler ran"; else ok; fi
}

for emit in obj asm ir; do
    WEIR_INJECT_CODEGEN_FAULT=fatal expect_rc "compile --emit $emit, LLVM fatal error" 1 \
        "$WEIR" compile --emit "$emit" -o "$TMP/fatal.$emit" "$POLICY"
    expect_out "names LLVM's message ($emit)" "$POLICY: error: cannot compile policy 'edge': LLVM failed: injected fatal error"
    expect_no_llvm_abort "fatal ($emit)"
    [[ -e $TMP/fatal.$emit ]] && bad "compile --emit $emit wrote output after a fatal error" || ok
done

WEIR_INJECT_CODEGEN_FAULT=abort expect_rc "compile, abort in the compiler" 1 "$WEIR" compile --emit obj -o "$TMP/abort.o" "$POLICY"
expect_out "names the signal" "the compiler crashed (signal 6, "
[[ -e $TMP/abort.o ]] && bad "compile wrote output after an abort" || ok

WEIR_INJECT_CODEGEN_FAULT=memory expect_rc "compile, memory blow-up" 1 "$WEIR" compile --emit obj -o "$TMP/mem.o" "$POLICY"
# ASan builds end the worker themselves on a failed allocation and say so.
if grep -qF "address sanitizer" "$TMP/out"; then
    expect_out "the sanitizer stopped it" "the compiler was stopped by the address sanitizer"
else
    expect_out "names the limit" "the compiler ran out of its 2 GiB memory limit and was stopped"
fi

# The same binary compiles normally afterwards, to the in-process bytes.
expect_rc "compile, isolated" 0 "$WEIR" compile --emit obj -o "$TMP/iso.o" "$POLICY"
WEIR_CODEGEN_IN_PROCESS=1 expect_rc "compile, in process" 0 "$WEIR" compile --emit obj -o "$TMP/inp.o" "$POLICY"
expect_rc "isolated and in-process objects are identical" 0 cmp "$TMP/iso.o" "$TMP/inp.o"

if [[ $(id -u) -eq 0 ]]; then
    WEIR_INJECT_CODEGEN_FAULT=abort expect_rc "check --kernel, abort in the compiler" 1 "$WEIR" check --kernel "$POLICY"
    expect_out "counted as an error" "$POLICY: 1 error, 0 warnings"
    expect_no_llvm_abort "check --kernel"
    WEIR_INJECT_CODEGEN_FAULT=fatal expect_rc "test --kernel, LLVM fatal error" 1 "$WEIR" test --kernel "$POLICY"
    expect_out "the tests fail, naming the compile" "policy 'edge' could not be compiled"
    # Private pins and lock folder: load takes the interface's lock before it compiles.
    WEIR_PIN_ROOT=/sys/fs/bpf/weir-cgf-$$ WEIR_RUN_DIR=$TMP/run WEIR_INJECT_CODEGEN_FAULT=fatal \
        expect_rc "load --dry-run, LLVM fatal error" 1 "$WEIR" load --dry-run --dev lo "$POLICY"
    rm -rf "/sys/fs/bpf/weir-cgf-$$"
    expect_out "load says nothing was attached" "compile failed: cannot compile policy 'edge': LLVM failed: injected fatal error"
else
    skipped=$((skipped + 1))
    echo "SKIP: check --kernel, test --kernel and load --dry-run need root"
fi

echo "codegen faults: $passed passed, $failed failed, $skipped skipped"
((failed == 0)) || exit 1
((skipped == 0)) || exit 77
