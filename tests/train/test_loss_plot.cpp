// tests/train/test_loss_plot.cpp — `kiso plot`: nice ticks against hand-picked answers, the SVG
// against the numbers it was drawn from, and the log reader's errors.
#include <doctest/doctest.h>

#include <cmath>
#include <regex>
#include <sstream>

#include "gpt/atomic_file.h"
#include "tests/temp_dir.h"
#include "base/check.h"
#include "train/loss_plot.h"

using namespace kiso;

// The "x,y" pairs of the first <polyline> whose stroke is `color`.
static std::vector<std::pair<double, double>> points_of(const std::string& svg, const std::string& color) {
  std::smatch m;
  REQUIRE(std::regex_search(svg, m, std::regex("<polyline[^>]*stroke=\"" + color + "\"[^>]*points=\"([^\"]*)\"")));
  std::vector<std::pair<double, double>> out;
  std::istringstream in(m[1].str());
  std::string xy;
  while (in >> xy) out.push_back({std::stod(xy.substr(0, xy.find(','))), std::stod(xy.substr(xy.find(',') + 1))});
  return out;
}

TEST_SUITE("train") {

TEST_CASE("nice_ticks: round steps of 1, 2 or 5 times a power of ten covering the range") {
  CHECK(nice_ticks(0, 1000, 8) == std::vector<double>{0, 200, 400, 600, 800, 1000});
  CHECK(nice_ticks(3.7, 7.6, 6) == std::vector<double>{4, 5, 6, 7});
  CHECK(nice_ticks(1, 1, 5) == std::vector<double>{1, 1.5, 2});  // an empty range is widened to 1
  CHECK(nice_ticks(1, 2, 8) == std::vector<double>{1, 1.2, 1.4, 1.6, 1.8, 2});  // no drift: 1.6, not 1.5999…
  CHECK(nice_ticks(0, 0.7, 8) == std::vector<double>{0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7});
  std::vector<double> t = nice_ticks(0.013, 0.029, 6);
  CHECK(t.size() >= 2);
  CHECK(t.size() <= 6);
  CHECK_THROWS_WITH_AS(nice_ticks(2, 1, 5), doctest::Contains("lo <= hi"), Error);
}

TEST_CASE("loss_svg: one point per finite record, in step order, inside the plot, higher loss drawn higher") {
  std::vector<LossPoint> train{{1, 7.5}, {2, 7.0}, {3, NAN}, {4, 6.0}, {5, 5.5}}, val{{2, 7.2}, {5, 5.8}};
  PlotOptions o;
  o.title = "run <1> & co";
  std::string svg = loss_svg(train, val, o);
  CHECK(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0) == 0);
  CHECK(svg.find("</svg>") != std::string::npos);
  CHECK(svg.find("run &lt;1&gt; &amp; co") != std::string::npos);
  CHECK(svg.find("1 non-finite losses left out") != std::string::npos);
  auto tr = points_of(svg, "#4a7ebb");
  REQUIRE(tr.size() == 4);
  for (size_t i = 1; i < tr.size(); ++i) {
    CHECK(tr[i].first > tr[i - 1].first);   // steps increase to the right
    CHECK(tr[i].second > tr[i - 1].second); // the loss falls, so y (downwards in SVG) grows
  }
  for (auto [x, y] : tr) {
    CHECK(x >= 70);
    CHECK(x <= o.width - 20);
    CHECK(y >= 50);
    CHECK(y <= o.height - 50);
  }
  CHECK(points_of(svg, "#d9541e").size() == 2);
  CHECK_THROWS_WITH_AS(loss_svg({{1, NAN}}, {}, o), doctest::Contains("no finite loss"), Error);
}

TEST_CASE("plot_run reads log.jsonl and names a malformed line") {
  TempDir d("plot");
  write_file_atomic(d.str("log.jsonl"), R"({"step":1,"loss":5.0}
{"step":2,"loss":4.0,"val_loss":4.5}
)");
  plot_run(d.str(), d.str("loss.svg"), {});
  CHECK(read_file(d.str("loss.svg")).find("<polyline") != std::string::npos);
  write_file_atomic(d.str("log.jsonl"), "{\"step\":1,\"loss\":5.0}\n{\"step\":2,\"loss\":\n");
  CHECK_THROWS_WITH_AS(plot_run(d.str(), d.str("x.svg"), {}), doctest::Contains("log.jsonl, line 2"), Error);
  write_file_atomic(d.str("log.jsonl"), "");
  CHECK_THROWS_WITH_AS(plot_run(d.str(), d.str("x.svg"), {}), doctest::Contains("holds no loss records"), Error);
  CHECK_THROWS_WITH_AS(plot_run(d.str("missing"), d.str("x.svg"), {}), doctest::Contains("missing/log.jsonl"), Error);
}

}  // TEST_SUITE
