// tests/train/test_task_data.cpp — fine-tuning data files: every schema of train/task_data.h
// read from hand-written files, and each kind of bad row refused with its file and line.
#include <doctest/doctest.h>

#include "gpt/atomic_file.h"
#include "tensor/check.h"
#include "tests/temp_dir.h"
#include "train/task_data.h"

using namespace kiso;

TEST_SUITE("train") {

TEST_CASE("task files: JSONL and TSV for each task type") {
  TempDir d("task_data");
  write_file_atomic(d.str("cls.jsonl"), "{\"text\": \"great food\", \"label\": \"positive\"}\n"
                                        "{\"text\": \"awful\", \"label\": \"negative\"}\n\n");
  auto cls = read_task_file(d.str("cls.jsonl"), TaskKind::classification);
  REQUIRE(cls.size() == 2);
  CHECK(cls[0].texts == std::vector<std::string>{"great food"});
  CHECK(cls[1].line == 2);
  CHECK(label_set(cls, TaskKind::classification) == std::vector<std::string>{"negative", "positive"});
  CHECK(label_index(cls[0], label_set(cls, TaskKind::classification), TaskKind::classification, "cls", 0) == 1);

  write_file_atomic(d.str("ent.tsv"), "a dog runs\tan animal moves\t1\r\nit rains\tit is dry\t0\r\n");
  auto ent = read_task_file(d.str("ent.tsv"), TaskKind::entailment);
  CHECK(ent[0].texts == std::vector<std::string>{"a dog runs", "an animal moves"});
  CHECK(ent[1].label == "0");

  write_file_atomic(d.str("sim.jsonl"), "{\"text_a\": \"car\", \"text_b\": \"auto\", \"label\": 10}\n"
                                        "{\"text_a\": \"x\", \"text_b\": \"y\", \"label\": 2}\n");
  auto sim = read_task_file(d.str("sim.jsonl"), TaskKind::similarity);
  CHECK(label_set(sim, TaskKind::similarity) == std::vector<std::string>{"2", "10"});  // integers sort numerically

  write_file_atomic(d.str("mc.jsonl"), "{\"context\": \"c\", \"candidates\": [\"a\", \"b\", \"d\"], \"label\": 2}\n");
  auto mc = read_task_file(d.str("mc.jsonl"), TaskKind::multiple_choice);
  CHECK(mc[0].texts == std::vector<std::string>{"c", "a", "b", "d"});
  CHECK(label_index(mc[0], {}, TaskKind::multiple_choice, "mc", 3) == 2);
  write_file_atomic(d.str("mc.tsv"), "ctx\tone\ttwo\t1\n");
  CHECK(read_task_file(d.str("mc.tsv"), TaskKind::multiple_choice)[0].texts.size() == 3);
}

TEST_CASE("task files: bad rows are errors naming the file and the line") {
  TempDir d("task_data_bad");
  auto fails = [&](const std::string& name, const std::string& text, TaskKind kind, const char* message) {
    write_file_atomic(d.str(name), text);
    CHECK_THROWS_WITH_AS(read_task_file(d.str(name), kind), doctest::Contains(message), Error);
  };
  fails("a.jsonl", "{\"text\": \"ok\", \"label\": \"p\"}\n{\"label\": \"p\"}\n", TaskKind::classification,
        "a.jsonl, line 2");
  fails("b.jsonl", "{\"premise\": \"x\", \"hypothesis\": 3, \"label\": 1}\n", TaskKind::entailment, "hypothesis");
  fails("c.jsonl", "{\"text\": \"x\", \"label\": 1.5}\n", TaskKind::classification, "must be a string or an integer");
  fails("d.tsv", "only one column\n", TaskKind::classification, "d.tsv, line 1: expected 2 tab-separated columns");
  fails("e.jsonl", "{\"context\": \"c\", \"candidates\": [\"a\", \"b\"], \"label\": 0}\n"
                   "{\"context\": \"c\", \"candidates\": [\"a\"], \"label\": 0}\n",
        TaskKind::multiple_choice, "e.jsonl, line 2: 1 candidates, but line 1 has 2");
  fails("f.jsonl", "{\"text\": \"x\", \"label\": \"p\"}\n{\"text\": \"x\"", TaskKind::classification, "f.jsonl, line 2");
  fails("g.jsonl", "", TaskKind::classification, "holds no examples");
  fails("h.csv", "x,y\n", TaskKind::classification, "expected a .jsonl or .tsv file");
  // Labels: unknown class, candidate index out of range.
  TaskRecord r{{"x"}, "neutral", 7};
  CHECK_THROWS_WITH_AS(label_index(r, {"negative", "positive"}, TaskKind::classification, "t.jsonl", 0),
                       doctest::Contains("t.jsonl, line 7: unknown label \"neutral\" (known: negative, positive)"), Error);
  TaskRecord m{{"c", "a", "b"}, "2", 3};
  CHECK_THROWS_WITH_AS(label_index(m, {}, TaskKind::multiple_choice, "m.jsonl", 2),
                       doctest::Contains("label \"2\" is not a candidate index 0..1"), Error);
}

}  // TEST_SUITE
