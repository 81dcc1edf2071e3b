// train/loss_plot.cpp — loss curves as SVG (see loss_plot.h).
#include "train/loss_plot.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "gpt/atomic_file.h"
#include "gpt/json.h"
#include "base/check.h"
#include "train/svg.h"

namespace kiso {

std::vector<double> nice_ticks(double lo, double hi, int max_ticks) {
  check(std::isfinite(lo) && std::isfinite(hi) && lo <= hi && max_ticks >= 2, "nice_ticks",
        "expected a finite range lo <= hi and max_ticks >= 2, got [{}, {}] and {}", lo, hi, max_ticks);
  if (hi == lo) hi = lo + 1;
  // The smallest step m · 10^e (m = 1, 2 or 5) that needs at most max_ticks ticks.
  double raw = (hi - lo) / double(max_ticks - 1);
  int e = int(std::floor(std::log10(raw)));
  double m = 10;
  for (double candidate : {1.0, 2.0, 5.0})
    if (candidate * std::pow(10.0, e) >= raw) {
      m = candidate;
      break;
    }
  // Tick k is k·m·10^e, formed with one rounding (dividing by the exact 10^-e when e < 0), so
  // 8 · 0.2 prints as 1.6 and not as 1.5999999999999999 as a running sum would.
  auto tick = [&](int64_t k) {
    return e >= 0 ? double(k) * m * std::pow(10.0, e) : double(k) * m / std::pow(10.0, -e);
  };
  double step = tick(1);
  std::vector<double> ticks;
  // (+ 0.0 turns a tick of -0 into 0)
  for (int64_t k = int64_t(std::ceil(lo / step - 1e-9)); tick(k) <= hi + 1e-9 * step; ++k)
    ticks.push_back(tick(k) + 0.0);
  return ticks;
}

std::string loss_svg(const std::vector<LossPoint>& train, const std::vector<LossPoint>& val, const PlotOptions& o) {
  // Keep the finite points; the y axis may be logarithmic (then losses must be positive).
  auto usable = [&](const LossPoint& p) { return std::isfinite(p.loss) && (!o.log_y || p.loss > 0); };
  std::vector<LossPoint> tr, va;
  std::copy_if(train.begin(), train.end(), std::back_inserter(tr), usable);
  std::copy_if(val.begin(), val.end(), std::back_inserter(va), usable);
  size_t skipped = train.size() + val.size() - tr.size() - va.size();
  check(!tr.empty() || !va.empty(), "plot", "no finite loss to plot");

  // Data ranges and the plot area (margins for the tick labels, the title and the legend).
  auto y_of = [&](double loss) { return o.log_y ? std::log10(loss) : loss; };
  double x_lo = 1e300, x_hi = -1e300, y_lo = 1e300, y_hi = -1e300;
  for (const auto* series : {&tr, &va})
    for (const LossPoint& p : *series) {
      x_lo = std::min(x_lo, double(p.step)), x_hi = std::max(x_hi, double(p.step));
      y_lo = std::min(y_lo, y_of(p.loss)), y_hi = std::max(y_hi, y_of(p.loss));
    }
  std::vector<double> xt = nice_ticks(x_lo, x_hi, 8), yt = nice_ticks(y_lo, y_hi, 6);
  x_lo = std::min(x_lo, xt.front()), x_hi = std::max(x_hi, xt.back());
  y_lo = std::min(y_lo, yt.front()), y_hi = std::max(y_hi, yt.back());
  if (x_hi == x_lo) x_hi = x_lo + 1;
  if (y_hi == y_lo) y_hi = y_lo + 1;
  const double left = 70, right = o.width - 20.0, top = 50, bottom = o.height - 50.0;
  auto px = [&](double x) { return left + (x - x_lo) / (x_hi - x_lo) * (right - left); };
  auto py = [&](double y) { return bottom - (y - y_lo) / (y_hi - y_lo) * (bottom - top); };

  std::ostringstream svg;
  svg << svg_open(o.width, o.height);
  svg << fmt::format(R"(<text x="{}" y="24" font-size="16" text-anchor="middle">{}</text>)" "\n", o.width / 2,
                     escape_xml(o.title));
  if (skipped)
    svg << fmt::format(R"(<text x="{}" y="40" text-anchor="middle" fill="#a00">{} non-finite losses left out</text>)"
                       "\n", o.width / 2, skipped);
  // Axes, grid lines and tick labels.
  for (double t : xt)
    svg << fmt::format(R"(<line x1="{0:.1f}" y1="{1}" x2="{0:.1f}" y2="{2}" stroke="#ddd"/>)"
                       R"(<text x="{0:.1f}" y="{3}" text-anchor="middle">{4:.6g}</text>)" "\n",
                       px(t), top, bottom, bottom + 16, t);
  for (double t : yt)
    svg << fmt::format(R"(<line x1="{1}" y1="{0:.1f}" x2="{2}" y2="{0:.1f}" stroke="#ddd"/>)"
                       R"(<text x="{3}" y="{4:.1f}" text-anchor="end">{5:.4g}</text>)" "\n",
                       py(t), left, right, left - 6, py(t) + 4, o.log_y ? std::pow(10.0, t) : t);
  svg << fmt::format(R"(<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="black"/>)" "\n", left, top,
                     right - left, bottom - top);
  svg << fmt::format(R"(<text x="{}" y="{}" text-anchor="middle">step</text>)" "\n", (left + right) / 2, o.height - 12);
  svg << fmt::format(R"svg(<text x="16" y="{}" text-anchor="middle" transform="rotate(-90 16 {})">loss{}</text>)svg" "\n",
                     (top + bottom) / 2, (top + bottom) / 2, o.log_y ? " (log scale)" : "");
  // The two series.
  auto polyline = [&](const std::vector<LossPoint>& s, const char* color, double width) {
    if (s.empty()) return;
    svg << fmt::format(R"(<polyline fill="none" stroke="{}" stroke-width="{}" points=")", color, width);
    for (const LossPoint& p : s) svg << fmt::format("{:.1f},{:.1f} ", px(double(p.step)), py(y_of(p.loss)));
    svg << "\"/>\n";
  };
  polyline(tr, "#4a7ebb", 1);
  polyline(va, "#d9541e", 2.5);
  for (const LossPoint& p : va)
    svg << fmt::format(R"(<circle cx="{:.1f}" cy="{:.1f}" r="3" fill="#d9541e"/>)" "\n", px(double(p.step)),
                       py(y_of(p.loss)));
  // Legend.
  svg << fmt::format(R"(<line x1="{0}" y1="{1}" x2="{2}" y2="{1}" stroke="#4a7ebb"/><text x="{3}" y="{4}">training</text>)"
                     "\n", right - 150, top + 16, right - 125, right - 118, top + 20);
  svg << fmt::format(R"(<line x1="{0}" y1="{1}" x2="{2}" y2="{1}" stroke="#d9541e" stroke-width="2.5"/>)"
                     R"(<text x="{3}" y="{4}">validation</text>)" "\n", right - 150, top + 34, right - 125, right - 118,
                     top + 38);
  svg << svg_close();
  return svg.str();
}

void plot_run(const std::string& run_dir, const std::string& out_path, const PlotOptions& o) {
  std::string path = run_dir + "/log.jsonl";
  std::istringstream lines(read_file(path));
  std::vector<LossPoint> train, val;
  std::string line;
  for (int number = 1; std::getline(lines, line); ++number) {
    if (line.empty()) continue;
    std::string where = fmt::format("{}, line {}", path, number);
    Json r = parse_json_strict(line, where);
    int64_t step = get_int(r, "step", where);
    if (has_key(r, "loss")) train.push_back({step, get_number(r, "loss", where)});
    if (has_key(r, "val_loss")) val.push_back({step, get_number(r, "val_loss", where)});
  }
  check(!train.empty() || !val.empty(), "plot", "{} holds no loss records", path);
  write_file_atomic(out_path, loss_svg(train, val, o));
}

}  // namespace kiso
