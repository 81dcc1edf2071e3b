// train/loss_plot.h — `kiso plot`: the loss curves of a pre-training run as an SVG file.
//
// Reads RUN/log.jsonl (one record per step: "step", "loss", and "val_loss" on validation
// steps) and draws training loss (thin line) and validation loss (thick line with dots)
// against the step, with "nice" axis ticks (1, 2 or 5 × 10^k). The SVG is written by hand:
// a few dozen elements of plain SVG 1.1, no plotting library. What it is not: a general
// charting tool (one chart, two series, a linear or log y axis).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kiso {

struct LossPoint {
  int64_t step;
  double loss;
};

struct PlotOptions {
  std::string title = "loss";
  int width = 800, height = 480;
  bool log_y = false;
};

// Up to about max_ticks round values covering [lo, hi]: steps of 1, 2 or 5 times a power of 10.
std::vector<double> nice_ticks(double lo, double hi, int max_ticks);

// The SVG document for the two series (either may be empty, not both). Non-finite losses are
// left out and counted in a note under the title.
std::string loss_svg(const std::vector<LossPoint>& train, const std::vector<LossPoint>& val, const PlotOptions& options);

// Reads run_dir/log.jsonl and writes the SVG to out_path (atomically). Errors name the file
// and line of a malformed record, or say the log holds no loss.
void plot_run(const std::string& run_dir, const std::string& out_path, const PlotOptions& options);

}  // namespace kiso
