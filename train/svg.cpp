// train/svg.cpp — see svg.h.
#include "train/svg.h"

#include <fmt/core.h>

namespace kiso {

std::string escape_xml(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '&') out += "&amp;";
    else if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '"') out += "&quot;";
    else out += c;
  }
  return out;
}

std::string svg_open(int width, int height) {
  return fmt::format(R"(<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{0}" height="{1}" )"
                     R"(font-family="sans-serif" font-size="12">)" "\n"
                     R"(<rect width="{0}" height="{1}" fill="white"/>)" "\n",
                     width, height);
}

}  // namespace kiso
