# Fuzz targets, one per parser. Two modes:
#   PROVAUDIT_FUZZ=OFF (default, any compiler): each target is linked with
#     replay_main.cc and registered with CTest to replay fuzz/corpus/<target>
#     and fuzz/regressions/<target> (label "fuzz_replay").
#   PROVAUDIT_FUZZ=ON (clang-14, see fuzz/run): each target is a libFuzzer
#     binary (-fsanitize=fuzzer,address,undefined), and the libraries it links
#     are instrumented with -fsanitize=address,undefined,fuzzer-no-link.
option(PROVAUDIT_FUZZ "Build the fuzz targets as libFuzzer binaries (clang)" OFF)

# target name -> the stage library it exercises
set(PA_FUZZ_TARGETS
    decoder:pa_capture
    flow_table:pa_capture
    pcap:pa_capture
    tls:pa_analyze
    x509:pa_analyze
    http:pa_analyze
    http2:pa_analyze
    rules_match:pa_analyze
    rules_load:pa_analyze
    flow_analyzer:pa_analyze)

if(PROVAUDIT_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "PROVAUDIT_FUZZ=ON needs clang (CXX=clang++-14); use fuzz/run")
  endif()
  set(PA_FUZZ_INSTRUMENT -fsanitize=address,undefined,fuzzer-no-link -fno-sanitize-recover=undefined
                         -fno-omit-frame-pointer)
  foreach(lib pa_common pa_capture)
    target_compile_options(${lib} PRIVATE ${PA_FUZZ_INSTRUMENT})
  endforeach()
  # The parsers of analyze/ without audit.cc: clang-14 rejects audit.cc (a lambda
  # capturing a structured binding, C++20 P1091, only in clang >= 16), and no
  # fuzz target needs the auditor. Same sources and dependencies as pa_analyze.
  set(PA_FUZZ_CLANG_EXCLUDE audit.cc)
  file(GLOB pa_analyze_fuzz_sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/../analyze/*.cc)
  foreach(excluded ${PA_FUZZ_CLANG_EXCLUDE})
    list(FILTER pa_analyze_fuzz_sources EXCLUDE REGEX "/${excluded}$")
  endforeach()
  add_library(pa_analyze_fuzz STATIC ${pa_analyze_fuzz_sources})
  target_include_directories(pa_analyze_fuzz PUBLIC ${CMAKE_CURRENT_LIST_DIR}/..)
  target_link_libraries(pa_analyze_fuzz PUBLIC pa_common OpenSSL::Crypto OpenSSL::SSL PkgConfig::RE2
                                               tomlplusplus::tomlplusplus Boost::headers)
  target_compile_definitions(pa_analyze_fuzz PUBLIC PROVAUDIT_RULES_DIR="${CMAKE_CURRENT_LIST_DIR}/../rules")
  target_compile_options(pa_analyze_fuzz PRIVATE ${PA_FUZZ_INSTRUMENT})
endif()

foreach(entry ${PA_FUZZ_TARGETS})
  string(REPLACE ":" ";" parts "${entry}")
  list(GET parts 0 name)
  list(GET parts 1 lib)
  if(PROVAUDIT_FUZZ AND lib STREQUAL "pa_analyze")
    set(lib pa_analyze_fuzz)
  endif()
  set(target fuzz_${name})
  if(PROVAUDIT_FUZZ)
    add_executable(${target} ${CMAKE_CURRENT_LIST_DIR}/${name}_fuzzer.cc)
    target_compile_options(${target} PRIVATE -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
                                             -fno-omit-frame-pointer)
    target_link_options(${target} PRIVATE -fsanitize=fuzzer,address,undefined)
  else()
    add_executable(${target} ${CMAKE_CURRENT_LIST_DIR}/${name}_fuzzer.cc ${CMAKE_CURRENT_LIST_DIR}/replay_main.cc)
    add_test(NAME fuzz_replay_${name}
             COMMAND ${target} ${CMAKE_CURRENT_LIST_DIR}/corpus/${name} ${CMAKE_CURRENT_LIST_DIR}/regressions/${name})
    set_tests_properties(fuzz_replay_${name} PROPERTIES LABELS fuzz_replay TIMEOUT 600)
  endif()
  target_include_directories(${target} PRIVATE ${CMAKE_CURRENT_LIST_DIR}/..)
  target_link_libraries(${target} PRIVATE ${lib})
endforeach()
