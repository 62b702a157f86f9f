# Build helpers for BPF C sources: compile with clang -target bpf, and embed the result into C++.
find_program(WEIR_BPF_CLANG NAMES clang-19 clang REQUIRED)
find_program(WEIR_LLVM_LINK NAMES llvm-link-19 llvm-link)
# The BPF CPU version; codegen's TargetMachine must use the same.
set(WEIR_BPF_CPU v3 CACHE STRING "BPF CPU version (-mcpu) of templates and generated code")
# Functions below are called from other directories: derive paths from this file, not variables.

# weir_bpf_compile(SOURCE src OUTPUT out [BITCODE] [DEPENDS files...] [DEFINES names...])
# BITCODE: emit LLVM bitcode (.bc) instead of an ELF object. DEFINES: -D for each name.
function(weir_bpf_compile)
  cmake_parse_arguments(ARG "BITCODE" "SOURCE;OUTPUT" "DEPENDS;DEFINES" ${ARGN})
  set(mode -c)
  if(ARG_BITCODE)
    set(mode -emit-llvm -c)
  endif()
  get_filename_component(src "${ARG_SOURCE}" ABSOLUTE)
  get_filename_component(include_dir "${CMAKE_CURRENT_FUNCTION_LIST_DIR}/.." ABSOLUTE)
  # No assignment tracking (variable-location debug info, which BTF does not carry): with it,
  # LLVM's AssignmentTrackingAnalysis took ~75 MiB while emitting a 100,000-rule policy.
  set(flags -target bpf -mcpu=${WEIR_BPF_CPU} -O2 -g -Xclang -fexperimental-assignment-tracking=disabled
      -Wall -Wextra -Wno-unused-parameter -I${include_dir})
  foreach(d ${ARG_DEFINES})
    list(APPEND flags -D${d})
  endforeach()
  if(CMAKE_LIBRARY_ARCHITECTURE)
    list(APPEND flags -I/usr/include/${CMAKE_LIBRARY_ARCHITECTURE})  # <asm/types.h>
  endif()
  add_custom_command(OUTPUT "${ARG_OUTPUT}"
    COMMAND "${WEIR_BPF_CLANG}" ${flags} ${mode} "${src}" -o "${ARG_OUTPUT}"
    DEPENDS "${src}" ${ARG_DEPENDS}
    COMMENT "BPF ${ARG_SOURCE} -> ${ARG_OUTPUT}"
    VERBATIM)
endfunction()

# weir_bpf_embed(INPUT file OUTPUT file.cpp NAMESPACE ns FUNCTION name)
function(weir_bpf_embed)
  cmake_parse_arguments(ARG "" "INPUT;OUTPUT;NAMESPACE;FUNCTION" "" ${ARGN})
  set(script "${CMAKE_CURRENT_FUNCTION_LIST_DIR}/embed.cmake")
  add_custom_command(OUTPUT "${ARG_OUTPUT}"
    COMMAND "${CMAKE_COMMAND}" -DINPUT=${ARG_INPUT} -DOUTPUT=${ARG_OUTPUT}
            -DNAMESPACE=${ARG_NAMESPACE} -DFUNCTION=${ARG_FUNCTION} -P "${script}"
    DEPENDS "${ARG_INPUT}" "${script}"
    COMMENT "Embedding ${ARG_INPUT}"
    VERBATIM)
endfunction()
