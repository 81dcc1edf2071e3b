// train/svg.h — the few pieces every hand-written SVG in kiso shares: escaping text for XML,
// the document's opening tag (with a white background) and its closing tag.
//
// kiso draws its pictures (loss curves, attention heatmaps, the input-transformation figure)
// as plain SVG 1.1 text with fmt::format, one element a line, so a reader can open the file and
// see what was drawn. What it is not: a drawing library; each picture lays itself out.
#pragma once

#include <string>
#include <string_view>

namespace kiso {

// s with &, <, > and " replaced by their XML entities: safe inside an element or an attribute.
std::string escape_xml(std::string_view s);

// <svg ...> for a width × height picture in sans-serif 12 px, then a white background rect.
std::string svg_open(int width, int height);

// </svg> and a newline.
inline std::string svg_close() { return "</svg>\n"; }

}  // namespace kiso
