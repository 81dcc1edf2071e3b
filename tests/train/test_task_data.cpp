// tests/train/test_task_data.cpp — fine-tuning data files: every schema of train/task_data.h
// read from hand-written files (the GLUE and ROCStories ones with rows copied from the released
// data), and each kind of bad row refused with its file and line.
#include <doctest/doctest.h>

#include "gpt/atomic_file.h"
#include "base/check.h"
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
  fails("h.txt", "x\ty\n", TaskKind::classification, "expected a .jsonl, .tsv or .csv file");
  // Labels: unknown class, candidate index out of range.
  TaskRecord r{{"x"}, "neutral", 7};
  CHECK_THROWS_WITH_AS(label_index(r, {"negative", "positive"}, TaskKind::classification, "t.jsonl", 0),
                       doctest::Contains("t.jsonl, line 7: unknown label \"neutral\" (known: negative, positive)"), Error);
  TaskRecord m{{"c", "a", "b"}, "2", 3};
  CHECK_THROWS_WITH_AS(label_index(m, {}, TaskKind::multiple_choice, "m.jsonl", 2),
                       doctest::Contains("label \"2\" is not a candidate index 0..1"), Error);
}

TEST_CASE("task files: GLUE TSVs are known by their header, columns found by name") {
  TempDir d("task_data_glue");
  // SST-2: train/dev "sentence label", test "index sentence" (no label).
  write_file_atomic(d.str("sst2.tsv"), "sentence\tlabel\n"
                                       "hide new secretions from the parental units \t0\n"
                                       "\n"
                                       "that loves its characters and communicates something rather beautiful \t1\n");
  auto sst2 = read_task_file(d.str("sst2.tsv"), TaskKind::classification);
  REQUIRE(sst2.size() == 2);  // the header is not an example
  CHECK(sst2[0].texts == std::vector<std::string>{"hide new secretions from the parental units "});
  CHECK(sst2[0].label == "0");
  CHECK(sst2[0].line == 2);
  CHECK(sst2[1].line == 4);  // physical lines: the blank line 3 still counts
  CHECK(sst2[1].label == "1");
  write_file_atomic(d.str("sst2_test.tsv"), "index\tsentence\n0\tuneasy mishmash of styles and genres .\n");
  auto sst2_test = read_task_file(d.str("sst2_test.tsv"), TaskKind::classification);
  REQUIRE(sst2_test.size() == 1);
  CHECK(sst2_test[0].texts == std::vector<std::string>{"uneasy mishmash of styles and genres ."});
  CHECK(sst2_test[0].label == "");
  // Columns by name, not by position.
  write_file_atomic(d.str("swapped.tsv"), "label\tsentence\n1\ta gorgeous film\n");
  auto swapped = read_task_file(d.str("swapped.tsv"), TaskKind::classification);
  CHECK(swapped[0].texts == std::vector<std::string>{"a gorgeous film"});
  CHECK(swapped[0].label == "1");

  // RTE: index sentence1 sentence2 label; the test file has no label column.
  write_file_atomic(d.str("rte.tsv"),
                    "index\tsentence1\tsentence2\tlabel\n"
                    "0\tDana Reeve, the widow of the actor Christopher Reeve, has died of lung cancer at age 44.\t"
                    "Christopher Reeve had an accident.\tnot_entailment\n"
                    "1\tYet, we now are discovering that antibiotics are losing their effectiveness against illness.\t"
                    "Bacteria is winning the war against antibiotics.\tentailment\n");
  auto rte = read_task_file(d.str("rte.tsv"), TaskKind::entailment);
  REQUIRE(rte.size() == 2);
  CHECK(rte[0].texts == std::vector<std::string>{
                            "Dana Reeve, the widow of the actor Christopher Reeve, has died of lung cancer at age 44.",
                            "Christopher Reeve had an accident."});
  CHECK(rte[0].label == "not_entailment");
  CHECK(rte[1].line == 3);
  CHECK(label_set(rte, TaskKind::entailment) == std::vector<std::string>{"entailment", "not_entailment"});
  write_file_atomic(d.str("rte_test.tsv"), "index\tsentence1\tsentence2\n"
                                           "0\tMangla was summoned after Madhumita's sister Nidhi Shukla.\t"
                                           "Shukla is related to Mangla.\n");
  auto rte_test = read_task_file(d.str("rte_test.tsv"), TaskKind::entailment);
  CHECK(rte_test[0].texts[1] == "Shukla is related to Mangla.");
  CHECK(rte_test[0].label == "");

  // MRPC: Quality is the label, #1 String / #2 String the texts; the released file starts with a
  // UTF-8 byte-order mark, and its quotes are literal text (GLUE is not quoted).
  write_file_atomic(d.str("mrpc.tsv"),
                    "\xEF\xBB\xBFQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
                    "1\t702876\t702977\tAmrozi accused his brother , whom he called \" the witness \" , of "
                    "deliberately distorting his evidence .\tReferring to him as only \" the witness \" , Amrozi "
                    "accused his brother of deliberately distorting his evidence .\n"
                    "0\t2108705\t2108831\tYucaipa owned Dominick 's before selling the chain to Safeway in 1998 for "
                    "$ 2.5 billion .\tYucaipa bought Dominick 's in 1995 for $ 693 million and sold it to Safeway "
                    "for $ 1.8 billion in 1998 .\n");
  auto mrpc = read_task_file(d.str("mrpc.tsv"), TaskKind::similarity);
  REQUIRE(mrpc.size() == 2);
  CHECK(mrpc[0].texts[0] ==
        "Amrozi accused his brother , whom he called \" the witness \" , of deliberately distorting his evidence .");
  CHECK(mrpc[0].texts[1].starts_with("Referring to him"));
  CHECK(mrpc[0].label == "1");
  CHECK(mrpc[1].label == "0");
  write_file_atomic(d.str("mrpc_test.tsv"), "index\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
                                            "0\t1089874\t1089925\tPCCW 's chief operating officer will report to "
                                            "Mr So .\tMike Butcher will report to So .\n");
  auto mrpc_test = read_task_file(d.str("mrpc_test.tsv"), TaskKind::similarity);
  CHECK(mrpc_test[0].texts == std::vector<std::string>{"PCCW 's chief operating officer will report to Mr So .",
                                                       "Mike Butcher will report to So ."});
  CHECK(mrpc_test[0].label == "");
}

TEST_CASE("task files: STS-B scores are binned to the nearest integer, halves up") {
  TempDir d("task_data_stsb");
  std::string header = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n";
  auto row = [](int i, const char* score) {
    return fmt::format("{}\tmain-captions\tMSRvid\t2012test\t{:04}\tnone\tnone\tA plane is taking off.\t"
                       "An air plane is taking off.\t{}\n", i, i, score);
  };
  write_file_atomic(d.str("stsb.tsv"), header + row(0, "3.400") + row(1, "3.500") + row(2, "5.000") + row(3, "0.000") +
                                           row(4, "2.5") + row(5, "0.499") + row(6, ""));
  auto stsb = read_task_file(d.str("stsb.tsv"), TaskKind::similarity);
  std::vector<std::string> labels;
  for (const TaskRecord& r : stsb) labels.push_back(r.label);
  CHECK(labels == std::vector<std::string>{"3", "4", "5", "0", "3", "0", ""});  // an empty cell: no label
  CHECK(stsb[0].texts == std::vector<std::string>{"A plane is taking off.", "An air plane is taking off."});
  CHECK(label_set(stsb, TaskKind::similarity) == std::vector<std::string>{"0", "3", "4", "5"});
  // The test file has no score column: no label.
  write_file_atomic(d.str("stsb_test.tsv"),
                    "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\n"
                    "0\tmain-news\theadlines\t2014\t0001\tnone\tnone\tA girl is styling her hair.\t"
                    "A girl is brushing her hair.\n");
  auto stsb_test = read_task_file(d.str("stsb_test.tsv"), TaskKind::similarity);
  CHECK(stsb_test[0].texts[0] == "A girl is styling her hair.");
  CHECK(stsb_test[0].label == "");
  // A score outside [0, 5], or not a number, is refused with its line.
  write_file_atomic(d.str("high.tsv"), header + row(0, "3.0") + row(1, "5.2"));
  CHECK_THROWS_WITH_AS(read_task_file(d.str("high.tsv"), TaskKind::similarity),
                       doctest::Contains("high.tsv, line 3: GLUE STS-B: score \"5.2\" is not a number in [0, 5]"),
                       Error);
  write_file_atomic(d.str("word.tsv"), header + row(0, "four"));
  CHECK_THROWS_WITH_AS(read_task_file(d.str("word.tsv"), TaskKind::similarity),
                       doctest::Contains("word.tsv, line 2: GLUE STS-B: score \"four\""), Error);
}

TEST_CASE("task files: ROCStories Cloze Test CSV, RFC 4180 quoting") {
  TempDir d("task_data_roc");
  std::string header = "InputStoryid,InputSentence1,InputSentence2,InputSentence3,InputSentence4,"
                       "RandomFifthSentenceQuiz1,RandomFifthSentenceQuiz2,AnswerRightEnding\r\n";
  write_file_atomic(d.str("cloze.csv"),
                    header +
                    "138d5bfb-05cc-41e3-bf2c-fa85ebad14e2,Rick grew up in a troubled household.,"
                    "\"He never found good support in family, and turned to gangs.\",It wasn't long before Rick got "
                    "shot in a robbery.,The incident caused him to turn a new leaf.,He is happy now.,He joined a "
                    "gang.,1\r\n"
                    "bff9f820-9605-4875-b9af-fe6f14d04256,Laverne needs to prepare something for her friend's party.,"
                    "She decides to bake a batch of brownies.,\"She asks, \"\"Who wants one?\"\"\",\"\",Laverne "
                    "doesn't go to her friend's party.,\"The brownies are a hit, \"\"as always\"\".\",2\r\n"
                    "\r\n"
                    "e8f628d5-9f97-40ed-8611-fc0e774673c4,\"Sarah had been dreaming\nof visiting Europe.\",She saved "
                    "for years.,She bought a ticket.,She flew to Paris.,Sarah stayed home.,Sarah loved Paris.,2\n"
                    "0a8d9c62-7d2b-4d6f-9c1e-3b5f7e2a1c4d,Tom got a dog.,He named it Rex.,Rex liked to run.,They ran "
                    "every day.,Tom and Rex got fit.,Tom sold Rex.,1\n");
  auto roc = read_task_file(d.str("cloze.csv"), TaskKind::multiple_choice);
  REQUIRE(roc.size() == 4);
  CHECK(roc[0].texts == std::vector<std::string>{
                            "Rick grew up in a troubled household. He never found good support in family, and turned "
                            "to gangs. It wasn't long before Rick got shot in a robbery. The incident caused him to "
                            "turn a new leaf.",
                            "He is happy now.", "He joined a gang."});
  CHECK(roc[0].label == "0");  // AnswerRightEnding 1 -> index 0
  CHECK(roc[1].texts[0] == "Laverne needs to prepare something for her friend's party. She decides to bake a batch "
                           "of brownies. She asks, \"Who wants one?\" ");  // "" is an empty fourth sentence
  CHECK(roc[1].texts[2] == "The brownies are a hit, \"as always\".");
  CHECK(roc[1].label == "1");
  CHECK(roc[0].line == 2);
  CHECK(roc[1].line == 3);
  CHECK(roc[2].line == 5);  // the record starts on line 5; its first sentence runs onto line 6
  CHECK(roc[2].texts[0].starts_with("Sarah had been dreaming\nof visiting Europe. She saved"));
  CHECK(roc[3].line == 7);  // after the two-line record
  CHECK(label_index(roc[1], {}, TaskKind::multiple_choice, "cloze.csv", 2) == 1);
  // The test set has no AnswerRightEnding column: no label.
  write_file_atomic(d.str("cloze_test.csv"),
                    "InputStoryid,InputSentence1,InputSentence2,InputSentence3,InputSentence4,"
                    "RandomFifthSentenceQuiz1,RandomFifthSentenceQuiz2\n"
                    "b929f263-1dcd-4a0b-b267-5d5ff2fe65bb,My friends all love to go to the club to dance.,They think "
                    "it's a lot of fun.,I decided to join them.,We danced all night.,My friends decided against "
                    "it.,I was tired the next day.\n");
  auto roc_test = read_task_file(d.str("cloze_test.csv"), TaskKind::multiple_choice);
  REQUIRE(roc_test.size() == 1);
  CHECK(roc_test[0].texts[2] == "I was tired the next day.");
  CHECK(roc_test[0].label == "");
}

TEST_CASE("task files: a plain TSV is one without a GLUE header") {
  TempDir d("task_data_plain");
  // "sentence<TAB>positive" names a GLUE column but is no GLUE header: it is the first example.
  write_file_atomic(d.str("plain.tsv"), "sentence\tpositive\n\na fine film\tpositive\n");
  auto plain = read_task_file(d.str("plain.tsv"), TaskKind::classification);
  REQUIRE(plain.size() == 2);
  CHECK(plain[0].texts == std::vector<std::string>{"sentence"});
  CHECK(plain[0].label == "positive");
  CHECK(plain[1].line == 3);
  // Entailment, three columns, no header; an empty last column is an empty label.
  write_file_atomic(d.str("ent.tsv"), "it rains\tthe ground is wet\t\n");
  auto ent = read_task_file(d.str("ent.tsv"), TaskKind::entailment);
  CHECK(ent[0].texts == std::vector<std::string>{"it rains", "the ground is wet"});
  CHECK(ent[0].label == "");
}

TEST_CASE("task files: GLUE and ROCStories errors name the file, the line and what was expected") {
  TempDir d("task_data_layout_bad");
  auto fails = [&](const std::string& name, const std::string& text, TaskKind kind, const char* message) {
    write_file_atomic(d.str(name), text);
    CHECK_THROWS_WITH_AS(read_task_file(d.str(name), kind), doctest::Contains(message), Error);
  };
  // A header of another task's layout.
  fails("rte.tsv", "index\tsentence1\tsentence2\tlabel\n0\tA dog runs.\tAn animal moves.\tentailment\n",
        TaskKind::classification, "rte.tsv, line 1: the header is that of GLUE RTE, whose task is entailment, not "
                                  "classification");
  fails("sst2.tsv", "sentence\tlabel\na gorgeous film\t1\n", TaskKind::similarity,
        "sst2.tsv, line 1: the header is that of GLUE SST-2, whose task is classification, not similarity");
  fails("roc.csv", "InputStoryid,InputSentence1,InputSentence2,InputSentence3,InputSentence4,"
                   "RandomFifthSentenceQuiz1,RandomFifthSentenceQuiz2\nid,a,b,c,d,e,f\n",
        TaskKind::classification, "roc.csv, line 1: the header is that of ROCStories Cloze Test, whose task is "
                                  "multiple-choice, not classification");
  // A row with a different number of columns than the header.
  fails("cols.tsv", "sentence\tlabel\na gorgeous film\t1\nan\tawful film\t0\n", TaskKind::classification,
        "cols.tsv, line 3: expected 2 tab-separated columns as in the GLUE SST-2 header on line 1, found 3");
  fails("cols.csv", "InputStoryid,InputSentence1,InputSentence2,InputSentence3,InputSentence4,"
                    "RandomFifthSentenceQuiz1,RandomFifthSentenceQuiz2,AnswerRightEnding\n"
                    "id,a,b,c,d,e,f,1\nid,a,b,c, with a comma,d,e,f,2\n",
        TaskKind::multiple_choice,
        "cols.csv, line 3: expected 8 comma-separated columns as in the ROCStories Cloze Test header on line 1, "
        "found 9");
  // Quoting: a quote never closed (named by the line it opens on), text after a closing quote.
  std::string roc_header = "InputStoryid,InputSentence1,InputSentence2,InputSentence3,InputSentence4,"
                           "RandomFifthSentenceQuiz1,RandomFifthSentenceQuiz2,AnswerRightEnding\n";
  fails("open.csv", roc_header + "id,a,b,c,d,e,f,1\nid,\"a, b,c,d,e,f,1\nid,a,b,c,d,e,f,2\n",
        TaskKind::multiple_choice, "open.csv, line 3: unterminated quoted field");
  fails("after.csv", roc_header + "id,\"a\"b,b,c,d,e,f,1\n", TaskKind::multiple_choice,
        "after.csv, line 2: 'b' after a closing quote");
  // An answer that is not ending 1 or 2; a .csv that is not the Cloze Test.
  fails("answer.csv", roc_header + "id,a,b,c,d,e,f,3\n", TaskKind::multiple_choice,
        "answer.csv, line 2: ROCStories Cloze Test: AnswerRightEnding is \"3\", expected 1 or 2");
  fails("stories.csv", "storyid,storytitle,sentence1,sentence2,sentence3,sentence4,sentence5\n",
        TaskKind::multiple_choice, "stories.csv, line 1: a .csv file must be the ROCStories Cloze Test");
  fails("header_only.tsv", "sentence\tlabel\n", TaskKind::classification, "holds no examples");
}

}  // TEST_SUITE

// ---- issue 13: labels, header rows, invalid UTF-8, text in memory ----

TEST_SUITE("train") {

namespace {

// The classes of records labelled `labels`, in that order.
std::vector<std::string> classes_of(const std::vector<std::string>& labels) {
  std::vector<TaskRecord> records;
  for (const std::string& l : labels) records.push_back({{"x"}, l, int64_t(records.size()) + 1});
  return label_set(records, TaskKind::classification);
}

}  // namespace

TEST_CASE("task files: any label text is a class, and classes sort by one strict weak order") {
  // Labels that are integers sort numerically, however long (no int64 conversion to overflow).
  CHECK(classes_of({"99999999999999999999", "5", "-3", "-12", "0"}) ==
        std::vector<std::string>{"-12", "-3", "0", "5", "99999999999999999999"});
  // "-" and "" are not integers: with them the order is the text's (byte order).
  CHECK(classes_of({"5", "-"}) == std::vector<std::string>{"-", "5"});
  // Integers of equal value written differently stay distinct classes, their text breaking the tie.
  CHECK(classes_of({"1", "01"}) == std::vector<std::string>{"01", "1"});
  CHECK(classes_of({"01", "1"}) == std::vector<std::string>{"01", "1"});
  // Mixed integers and words: text order for all of them, whatever order the file has. The old
  // comparator ("10" < "1a" < "9" as text but "9" < "10" as numbers) was a cycle, and the result
  // depended on the input order.
  std::vector<std::string> mixed = {"10", "1a", "9", "b"};
  std::sort(mixed.begin(), mixed.end());
  do {
    CAPTURE(mixed);
    CHECK(classes_of(mixed) == std::vector<std::string>{"10", "1a", "9", "b"});
  } while (std::next_permutation(mixed.begin(), mixed.end()));
  // A JSON integer above int64 keeps its digits (it used to wrap to a negative number).
  TempDir d("task_data_labels");
  write_file_atomic(d.str("big.jsonl"), "{\"text\": \"a\", \"label\": 18446744073709551615}\n"
                                        "{\"text\": \"b\", \"label\": -9223372036854775808}\n");
  auto big = read_task_file(d.str("big.jsonl"), TaskKind::classification);
  CHECK(big[0].label == "18446744073709551615");
  CHECK(big[1].label == "-9223372036854775808");
  // A multiple-choice label is a plain decimal index: no sign, no space, no overflow.
  for (const char* bad : {"+1", " 1", "1 ", "-", "99999999999999999999", "1.0"}) {
    CAPTURE(bad);
    TaskRecord m{{"c", "a", "b"}, bad, 4};
    CHECK_THROWS_WITH_AS(label_index(m, {}, TaskKind::multiple_choice, "m.tsv", 2),
                         doctest::Contains(fmt::format("m.tsv, line 4: label \"{}\" is not a candidate index 0..1", bad).c_str()),
                         Error);
  }
}

TEST_CASE("task files: a plain TSV's header row is detected or forced, and the decision is said") {
  TempDir d("task_data_header");
  // The report of issue 13: a `text<TAB>label` header trained as an example (a class "label").
  write_file_atomic(d.str("train.tsv"), "text\tlabel\ngreat food\tpos\nawful\tneg\n");
  TaskFile train = read_task_data(d.str("train.tsv"), TaskKind::classification);
  REQUIRE(train.records.size() == 2);
  CHECK(train.records[0].texts == std::vector<std::string>{"great food"});
  CHECK(train.records[0].line == 2);
  CHECK(label_set(train.records, TaskKind::classification) == std::vector<std::string>{"neg", "pos"});
  CHECK(train.note == d.str("train.tsv") + ": first line taken as a header (text, label)");
  // Any names, any case, as long as the last column is called "label"; every task.
  write_file_atomic(d.str("ent.tsv"), "Premise\tHypothesis\tLABEL\nit rains\tit is wet\tyes\n");
  TaskFile ent = read_task_data(d.str("ent.tsv"), TaskKind::entailment);
  REQUIRE(ent.records.size() == 1);
  CHECK(ent.records[0].label == "yes");
  // Without such a header: line 1 is an example, and the note says so.
  write_file_atomic(d.str("plain.tsv"), "sentence\tpositive\na fine film\tpositive\n");
  TaskFile plain = read_task_data(d.str("plain.tsv"), TaskKind::classification);
  CHECK(plain.records.size() == 2);
  CHECK(plain.note == d.str("plain.tsv") + ": no header row (line 1's last column is not \"label\"); "
                                           "line 1 read as an example");
  // Forced either way.
  TaskFile no = read_task_data(d.str("train.tsv"), TaskKind::classification, HeaderRow::no);
  REQUIRE(no.records.size() == 3);
  CHECK(no.records[0].label == "label");
  CHECK(no.note == d.str("train.tsv") + ": no header row (--no-header); line 1 read as an example");
  TaskFile yes = read_task_data(d.str("plain.tsv"), TaskKind::classification, HeaderRow::yes);
  REQUIRE(yes.records.size() == 1);
  CHECK(yes.records[0].line == 2);
  CHECK(yes.note == d.str("plain.tsv") + ": first line taken as a header (sentence, positive) (--header)");
  // A header with the wrong number of columns is an error, as a row would be.
  write_file_atomic(d.str("wide.tsv"), "text\tsource\tlabel\ngood\tpos\n");
  CHECK_THROWS_WITH_AS(read_task_data(d.str("wide.tsv"), TaskKind::classification),
                       doctest::Contains("wide.tsv, line 1: the header has 3 tab-separated columns, a classification "
                                         "file has 2 (text, label)"),
                       Error);
  // GLUE headers are headers (and say which); --header/--no-header mean nothing to JSONL.
  write_file_atomic(d.str("sst2.tsv"), "sentence\tlabel\na gorgeous film\t1\n");
  CHECK(read_task_data(d.str("sst2.tsv"), TaskKind::classification).note ==
        d.str("sst2.tsv") + ": first line taken as the GLUE SST-2 header");
  write_file_atomic(d.str("a.jsonl"), "{\"text\": \"x\", \"label\": \"p\"}\n");
  CHECK(read_task_data(d.str("a.jsonl"), TaskKind::classification).note == "");
  CHECK_THROWS_WITH_AS(read_task_data(d.str("a.jsonl"), TaskKind::classification, HeaderRow::yes),
                       doctest::Contains("a.jsonl: --header and --no-header apply to .tsv files"), Error);
}

TEST_CASE("task files: invalid UTF-8 is an error naming the file, the line and the byte") {
  TempDir d("task_data_utf8");
  auto fails = [&](const std::string& name, const std::string& text, TaskKind kind, const std::string& message) {
    write_file_atomic(d.str(name), text);
    CHECK_THROWS_WITH_AS(read_task_file(d.str(name), kind), doctest::Contains((d.str(name) + message).c_str()), Error);
  };
  fails("bad.tsv", "good\tpos\nba\xff" "d\tneg\n", TaskKind::classification,
        ", line 2: invalid UTF-8 at byte 3 of the line (byte 12 of the file): 0xff never occurs in UTF-8");
  fails("bad.jsonl", "{\"text\": \"\xc3\", \"label\": 1}\n", TaskKind::classification,
        ", line 1: invalid UTF-8 at byte 11 of the line (byte 11 of the file)");
  fails("bad.csv", "InputStoryid,InputSentence1,InputSentence2,InputSentence3,InputSentence4,"
                   "RandomFifthSentenceQuiz1,RandomFifthSentenceQuiz2\n\n\nid,\xe2\x82,b,c,d,e,f\n",
        TaskKind::multiple_choice, ", line 4: invalid UTF-8 at byte 4 of the line");
}

TEST_CASE("task files: text in memory reads as the same text in a file") {
  TempDir d("task_data_memory");
  const std::string text = "text\tlabel\ngreat\tpos\n\nawful\tneg\n";
  write_file_atomic(d.str("t.tsv"), text);
  TaskFile from_file = read_task_data(d.str("t.tsv"), TaskKind::classification);
  TaskFile from_memory = parse_task_data(text, d.str("t.tsv"), TaskKind::classification);
  REQUIRE(from_memory.records.size() == from_file.records.size());
  for (size_t i = 0; i < from_file.records.size(); ++i) {
    CHECK(from_memory.records[i].texts == from_file.records[i].texts);
    CHECK(from_memory.records[i].label == from_file.records[i].label);
    CHECK(from_memory.records[i].line == from_file.records[i].line);
  }
  CHECK(from_memory.note == from_file.note);
  CHECK_THROWS_WITH_AS(parse_task_data("x\ty\n", "memory.txt", TaskKind::classification),
                       doctest::Contains("memory.txt: expected a .jsonl, .tsv or .csv file"), Error);
}

}  // TEST_SUITE
