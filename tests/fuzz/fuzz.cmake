# libFuzzer targets, one per parser (tests/fuzz/fuzz_*.cc); included from the
# top CMakeLists.txt with -DCASCADE_FUZZ=ON and clang. Every library is built
# with ASan + UBSan and libFuzzer's coverage, so the fuzzers see into the code
# they drive. scripts/fuzz configures build-fuzz/ this way and runs them.
# The same files are replayed over tests/fuzz/corpus by the normal build's
# fuzz_replay test (tests/tests.cmake).
set(CASCADE_FUZZ_SANITIZERS "-fsanitize=address,undefined;-fno-sanitize-recover=undefined;-fno-omit-frame-pointer")
add_compile_options(-fsanitize=fuzzer-no-link ${CASCADE_FUZZ_SANITIZERS} -g)
add_link_options(-fsanitize=address,undefined)

# Target name -> the cascade libraries its parser lives in.
set(CASCADE_FUZZ_TARGETS
    "gguf:cascade_model"
    "llama2c:cascade_model"
    "tokenizer:cascade_model"
    "wire:cascade_rpc"
    "manifest:cascade_net"
    "api_request:cascade_serve"
    "plan:cascade_net")
foreach(entry ${CASCADE_FUZZ_TARGETS})
  string(REPLACE ":" ";" parts ${entry})
  list(GET parts 0 name)
  list(GET parts 1 lib)
  add_executable(fuzz_${name} ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_${name}.cc)
  target_link_libraries(fuzz_${name} PRIVATE ${lib} nlohmann_json::nlohmann_json)
  target_link_options(fuzz_${name} PRIVATE -fsanitize=fuzzer)
endforeach()

# Writes the binary seeds of tests/fuzz/corpus (see make_seeds.cc).
add_executable(fuzz_make_seeds ${CMAKE_SOURCE_DIR}/tests/fuzz/make_seeds.cc)
target_link_libraries(fuzz_make_seeds PRIVATE cascade_rpc)
