file(GLOB CASCADE_CLI_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/cli/*.cc)
add_executable(cascade ${CASCADE_CLI_SOURCES})
target_link_libraries(cascade PRIVATE cascade_serve cascade_rpc cascade_attacks cascade_model cascade_plan nlohmann_json::nlohmann_json)
