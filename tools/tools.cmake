include_guard(GLOBAL)  # included from CMakeLists.txt and from tests/tests.cmake
# Small standalone programs used by tests and deployments.
# delay_proxy: a TCP proxy adding a fixed one-way delay (the kernel here has no netem);
# used by tests/netns/run_netns_test.sh.
add_executable(delay_proxy ${CMAKE_SOURCE_DIR}/tools/delay_proxy.cc)
target_link_libraries(delay_proxy PRIVATE Threads::Threads)
