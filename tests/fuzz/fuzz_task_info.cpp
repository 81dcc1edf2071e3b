// tests/fuzz/fuzz_task_info.cpp — libFuzzer target: a fine-tuned model's task.json
// (gpt/finetuned.h task_info_from_json), the part of load_finetuned that needs no model.
//
// Feeds: the input bytes as the text of task.json: parse_json_strict, then task_info_from_json
// with a vocabulary of 40482 ids (GPT-1's 40478 + the 4 special tokens), so that special ids
// both inside and just outside it occur.
// Asserts: no crash, no sanitizer report, no hang, only kiso::Error escapes (tests/fuzz/fuzz.h);
// and on an accepted task.json (no Error at all from here on) what finetuned.h promises: the
// task kind's shape (multiple choice: no labels and candidates >= 2; otherwise >= 2 labels and
// candidates 0; head_classes >= 2), labels non-empty and distinct, head_dropout in [0, 1),
// every special id in the vocabulary, train_label_counts >= 0 and (but for multiple choice)
// of known labels; and task_info_to_json, dumped and parsed again, reads back as the same
// TaskInfo, so a model directory kiso writes is one it reads.
// What it is not: load_finetuned's checks against the model (max_len <= n_ctx, the special ids
// are the tokenizer's) — those need a model and are tests/gpt's.
// Seeds: tests/fuzz/corpus/task_info (task.json of each task kind as save_finetuned writes it,
// and broken ones: unknown key or task, repeated or empty labels, special ids out of range or
// past 2^32, dropout 1, negative counts, a label count that does not fit the kind).
#include <algorithm>
#include <optional>
#include <set>

#include "gpt/finetuned.h"
#include "tests/fuzz/fuzz.h"

using namespace kiso;

namespace {

constexpr int64_t kVocab = 40482;

bool same_info(const TaskInfo& a, const TaskInfo& b) {
  return a.kind == b.kind && a.labels == b.labels && a.candidates == b.candidates && a.max_len == b.max_len &&
         a.head_dropout == b.head_dropout && a.special.start == b.special.start &&
         a.special.delim == b.special.delim && a.special.extract == b.special.extract &&
         a.special.pad == b.special.pad && a.train_label_counts == b.train_label_counts;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::set_memory_budget();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const char* target = "fuzz_task_info";
  std::optional<TaskInfo> accepted;
  Json options;
  fuzz::expect_only_kiso_errors(target, [&] {
    Json json = parse_json_strict(fuzz::as_view(data, size), "task.json");
    accepted = task_info_from_json(json, "task.json", kVocab);
    if (json.contains("options")) options = json["options"];
  });
  if (!accepted) return 0;
  const TaskInfo& info = *accepted;
  fuzz::expect_no_error(target, "checking or rewriting an accepted task.json", [&] {
    const bool mc = info.kind == TaskKind::multiple_choice;
    fuzz::require(mc ? info.labels.empty() && info.candidates >= 2 : info.labels.size() >= 2 && info.candidates == 0,
                  target, "multiple choice has no labels and >= 2 candidates; other kinds >= 2 labels, 0 candidates");
    fuzz::require(head_classes(info) >= 2, target, "the head has at least 2 outputs");
    fuzz::require(std::set<std::string>(info.labels.begin(), info.labels.end()).size() == info.labels.size() &&
                      std::none_of(info.labels.begin(), info.labels.end(), [](const std::string& l) { return l.empty(); }),
                  target, "labels are non-empty and distinct");
    fuzz::require(info.head_dropout >= 0 && info.head_dropout < 1, target, "head_dropout is in [0, 1)");
    for (int32_t id : {info.special.start, info.special.delim, info.special.extract, info.special.pad})
      fuzz::require(id >= 0 && id < kVocab, target, "every special id is inside the vocabulary");
    for (const auto& [label, count] : info.train_label_counts) {
      fuzz::require(count >= 0, target, "train_label_counts are >= 0");
      fuzz::require(mc || std::find(info.labels.begin(), info.labels.end(), label) != info.labels.end(), target,
                    "train_label_counts count known labels");
    }
    std::string written = task_info_to_json(info, options).dump(2);
    TaskInfo again = task_info_from_json(parse_json_strict(written, "task.json (rewritten)"), "task.json (rewritten)",
                                         kVocab);
    fuzz::require(same_info(again, info), target, "task_info_from_json(task_info_to_json(info)) == info");
  });
  return 0;
}
