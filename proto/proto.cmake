# Generates the C++ protobuf and gRPC code of proto/cascade.proto into the
# build tree as library cascade_proto.
pkg_check_modules(GRPCPP REQUIRED IMPORTED_TARGET grpc++)
pkg_check_modules(PROTOBUF REQUIRED IMPORTED_TARGET protobuf)
find_program(PROTOC protoc REQUIRED)
find_program(GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)

set(CASCADE_PROTO_OUT ${CMAKE_BINARY_DIR}/proto_gen)
file(MAKE_DIRECTORY ${CASCADE_PROTO_OUT}/proto)
set(CASCADE_PROTO_SRCS
    ${CASCADE_PROTO_OUT}/proto/cascade.pb.cc ${CASCADE_PROTO_OUT}/proto/cascade.grpc.pb.cc)
add_custom_command(
  OUTPUT ${CASCADE_PROTO_SRCS}
         ${CASCADE_PROTO_OUT}/proto/cascade.pb.h ${CASCADE_PROTO_OUT}/proto/cascade.grpc.pb.h
  COMMAND ${PROTOC} -I ${CMAKE_SOURCE_DIR} --cpp_out=${CASCADE_PROTO_OUT}
          --grpc_out=${CASCADE_PROTO_OUT} --plugin=protoc-gen-grpc=${GRPC_CPP_PLUGIN}
          ${CMAKE_SOURCE_DIR}/proto/cascade.proto
  DEPENDS ${CMAKE_SOURCE_DIR}/proto/cascade.proto
  COMMENT "protoc proto/cascade.proto")
add_library(cascade_proto STATIC ${CASCADE_PROTO_SRCS})
# Generated code is not ours to keep warning-free.
target_compile_options(cascade_proto PRIVATE -w)
target_include_directories(cascade_proto PUBLIC ${CASCADE_PROTO_OUT})
target_link_libraries(cascade_proto PUBLIC PkgConfig::GRPCPP PkgConfig::PROTOBUF)
