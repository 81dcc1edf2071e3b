// train/commands/plot.cpp — `kiso plot`: a run's training and validation loss (RUN/log.jsonl)
// drawn as an SVG file (train/loss_plot.h), RUN/loss.svg unless --out says otherwise.
// What it is not: a live view; it reads the log as it is when it runs.
#include <filesystem>
#include <iostream>

#include <fmt/core.h>

#include "gpt/json.h"
#include "train/commands/command.h"
#include "train/commands/commands.h"
#include "train/commands/option_checks.h"
#include "train/loss_plot.h"

namespace kiso {

namespace {

struct Options {
  std::string run_dir;
  std::string out;  // empty: RUN/loss.svg
  PlotOptions plot;
  bool as_json = false;
};

}  // namespace

static int run_plot(const Options& o) {
  require_dir(o.run_dir, "plot", "--run", "a run directory (with log.jsonl)");
  check(std::filesystem::is_regular_file(o.run_dir + "/log.jsonl"), "plot",
        "--run {}: no log.jsonl in it; expected the run directory of kiso pretrain or finetune", o.run_dir);
  std::string out = o.out.empty() ? o.run_dir + "/loss.svg" : o.out;
  require_writable_file(out, "plot", "--out");
  plot_run(o.run_dir, out, o.plot);
  if (o.as_json) std::cout << Json{{"svg", out}} << "\n";
  else std::cout << fmt::format("wrote {}\n", out);
  return 0;
}

void add_plot(CLI::App& app) {
  auto options = std::make_shared<Options>();
  CLI::App* command = app.add_subcommand("plot", "draw a run's training and validation loss as SVG");
  command->add_option("--run", options->run_dir, "a run directory (with log.jsonl)")->required();
  command->add_option("--out", options->out, "the SVG file to write (default: RUN/loss.svg)");
  command->add_option("--title", options->plot.title, "the chart's title")->capture_default_str();
  command->add_flag("--log-y", options->plot.log_y, "logarithmic loss axis");
  add_json_flag(*command, options->as_json);
  command->callback([options] { exit_with(run_plot(*options)); });
}

}  // namespace kiso
