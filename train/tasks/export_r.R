# train/tasks/export_r.R — writes the two R-packaged text sources of the fine-tuning tasks as
# plain UTF-8 TSV files, so that build_tasks.py (Python, stdlib only) can read them.
#
#   sentiment_train.tsv, sentiment_test.tsv   score <TAB> review     modeldata::small_fine_foods
#                                                                     (training_data, testing_data)
#   austen.tsv                                book <TAB> text         janeaustenr::austen_books()
#
# Each file has a header line and then one row per record, in the package's own order. A tab,
# newline or carriage return inside a text becomes a space; nothing else is changed (HTML
# clean-up, splits and sampling are build_tasks.py's job).
# What it is not: a general R-to-JSON exporter; it needs only base R plus the two data packages.
# Usage: Rscript export_r.R OUT_DIR   (called by make_tasks.sh)

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 1) stop("usage: Rscript export_r.R OUT_DIR")
out_dir <- args[1]
if (!dir.exists(out_dir)) stop(sprintf("export_r.R: output directory '%s' does not exist", out_dir))

for (pkg in c("modeldata", "janeaustenr")) {
  if (!requireNamespace(pkg, quietly = TRUE)) {
    stop(sprintf("export_r.R: R package '%s' is not installed (Debian: r-cran-%s)", pkg, pkg))
  }
}

one_line <- function(x) gsub("[\t\r\n]", " ", enc2utf8(as.character(x)))

# Writes a two-column TSV through a temporary name, so a crash never leaves half a file.
write_tsv <- function(path, header, col1, col2) {
  stopifnot(length(col1) == length(col2))
  tmp <- paste0(path, ".tmp")
  con <- file(tmp, open = "wb")
  writeLines(c(header, paste(one_line(col1), one_line(col2), sep = "\t")), con, sep = "\n", useBytes = TRUE)
  close(con)
  if (!file.rename(tmp, path)) stop(sprintf("export_r.R: cannot rename %s to %s", tmp, path))
}

# small_fine_foods: Amazon fine-food reviews, score "great" (5 stars) or "other".
fine_foods <- new.env()
data("small_fine_foods", package = "modeldata", envir = fine_foods)
for (split in c("training", "testing")) {
  d <- get(paste0(split, "_data"), envir = fine_foods)
  if (!all(c("review", "score") %in% names(d))) {
    stop(sprintf("export_r.R: %s_data has columns %s, expected review and score",
                 split, paste(names(d), collapse = ", ")))
  }
  name <- if (split == "training") "train" else "test"
  write_tsv(file.path(out_dir, sprintf("sentiment_%s.tsv", name)), "score\treview", d$score, d$review)
}

# austen_books(): the six novels, one physical line of the Project Gutenberg text per row.
books <- janeaustenr::austen_books()
write_tsv(file.path(out_dir, "austen.tsv"), "book\ttext", books$book, books$text)
