# Benchmark programs (not tests): they print numbers, they do not pass or fail.
add_executable(kernel_bench ${CMAKE_SOURCE_DIR}/bench/kernel_bench.cc)
target_link_libraries(kernel_bench PRIVATE cascade_kernels benchmark::benchmark)
add_executable(attack_bench ${CMAKE_SOURCE_DIR}/bench/attack_bench.cc)
target_link_libraries(attack_bench PRIVATE cascade_attacks)
add_executable(link_bench ${CMAKE_SOURCE_DIR}/bench/link_bench.cc)
target_link_libraries(link_bench PRIVATE cascade_rpc nlohmann_json::nlohmann_json)
