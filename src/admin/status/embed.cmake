# Writes the status page's files into a C++ source as raw string literals (cmake -P, at build
# time, so that an edited page is rebuilt like any source):
#   cmake -DOUT=<file.cpp> -DHTML=<f> -DJS=<f> -DCSS=<f> -P embed.cmake
set(delimiter "gatehouse_asset")
set(body "// Generated from src/admin/status/ by src/admin/status/embed.cmake: edit those files.\n")
string(APPEND body "#include \"admin/status_assets.hpp\"\n\nnamespace gatehouse::admin {\n\n")
foreach(pair IN ITEMS "k_status_html=${HTML}" "k_status_js=${JS}" "k_status_css=${CSS}")
  string(REPLACE "=" ";" pair "${pair}")
  list(GET pair 0 name)
  list(GET pair 1 file)
  file(READ "${file}" content)
  string(FIND "${content}" ")${delimiter}\"" clash)
  if(NOT clash EQUAL -1)
    message(FATAL_ERROR "${file} contains the raw string delimiter )${delimiter}\"")
  endif()
  string(APPEND body "const std::string_view ${name} = R\"${delimiter}(${content})${delimiter}\";\n\n")
endforeach()
string(APPEND body "}  // namespace gatehouse::admin\n")
file(WRITE "${OUT}" "${body}")
