include_guard(GLOBAL)  # included from CMakeLists.txt and from tests/tests.cmake
# Small standalone programs used by tests and deployments.
# delay_proxy: a TCP proxy adding a fixed one-way delay (the kernel here has no netem);
# used by tests/netns/run_netns_test.sh.
add_executable(delay_proxy ${CMAKE_SOURCE_DIR}/tools/delay_proxy.cc)
target_link_libraries(delay_proxy PRIVATE Threads::Threads)
# cascade_soak: generation under chaos (random SIGKILL/SIGSTOP of nodes, failover onto spares);
# run by scripts/soak and, briefly, by ctest (soak_short).
if(TARGET cascade_rpc)
  add_executable(cascade_soak ${CMAKE_SOURCE_DIR}/tools/soak.cc)
  target_link_libraries(cascade_soak PRIVATE cascade_rpc nlohmann_json::nlohmann_json)
endif()
