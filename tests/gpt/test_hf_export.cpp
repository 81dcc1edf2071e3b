// tests/gpt/test_hf_export.cpp — `kiso export` (gpt/hf_export.h) against transformers itself.
// The fixture tests/gpt/data/hf_export/<task>/ (make hf-export-reference) holds a tiny fine-tuned
// model (classification, similarity, multiple-choice: kiso's byte-level BPE; gpt1-entailment: GPT-1's
// own BPE, a text pair task, on texts with capitals, accents, punctuation and <unk>), its exports, the sequences kiso builds for a few examples, and what
// transformers 5.24 computed on the exports (reference.json: OpenAIGPTForSequenceClassification /
// OpenAIGPTDoubleHeadsModel .from_pretrained, loaded with no missing or unexpected tensor, and its
// tokenizer giving kiso's ids for every sequence). Checked here:
//   - exporting the committed model again gives the committed export: every file, config by
//     config and tensor by tensor (so what transformers ran is what kiso writes today);
//   - kiso's own task logits on the examples equal transformers' on the export, for every form:
//     the head mapping, the bias fold, the similarity halves and the tied names are right; and
//     predict()'s probabilities equal those of transformers' text-classification pipeline given
//     the raw texts or text pairs (so the exported tokenizer, GPT2Tokenizer or OpenAIGPTTokenizer,
//     tokenises and frames them as kiso does);
//   - the fold on its own (A β' = A β + b in f64, β' − β smallest), and every refusal.
// Oracles: transformers' logits (an independent implementation), f64 arithmetic for the fold.
#include <doctest/doctest.h>

#include <CLI/CLI.hpp>

#include <cmath>
#include <filesystem>
#include <set>

#include "gpt/atomic_file.h"
#include "gpt/hf_export.h"
#include "tests/temp_dir.h"
#include "tests/train/run_command.h"
#include "train/commands/commands.h"

using namespace kiso;
namespace fs = std::filesystem;

namespace {

const std::string kFixture = std::string(KISO_SOURCE_DIR) + "/tests/gpt/data/hf_export";

struct Form {
  std::string task, head;
};
const Form kForms[] = {{"classification", "sequence-classification"}, {"classification", "double-heads"},
                       {"similarity", "sequence-classification"},     {"similarity", "double-heads"},
                       {"multiple-choice", "double-heads"},           {"gpt1-entailment", "sequence-classification"}};

Json read_json(const std::string& path) { return parse_json_strict(read_file(path), path); }

// Every file of `got` is in `want` with the same content (JSON parsed, safetensors tensor by
// tensor, the tokenizer's text files byte for byte), and the other way round.
void check_same_dir(const std::string& got, const std::string& want) {
  std::set<std::string> got_files, want_files;
  for (const auto& f : fs::directory_iterator(got)) got_files.insert(f.path().filename().string());
  for (const auto& f : fs::directory_iterator(want)) want_files.insert(f.path().filename().string());
  CHECK(got_files == want_files);
  for (const std::string& name : want_files) {
    if (!got_files.count(name)) continue;
    INFO(want, "/", name);
    std::string g = got + "/" + name, w = want + "/" + name;
    if (name.size() > 5 && name.substr(name.size() - 5) == ".json") {
      CHECK(read_json(g) == read_json(w));
    } else if (name == "model.safetensors") {
      safetensors::File gf = safetensors::load(g), wf = safetensors::load(w);
      REQUIRE(gf.tensors.size() == wf.tensors.size());
      for (size_t i = 0; i < wf.tensors.size(); ++i) {
        INFO(wf.tensors[i].first);
        CHECK(gf.tensors[i].first == wf.tensors[i].first);
        CHECK(gf.tensors[i].second.shape() == wf.tensors[i].second.shape());
        CHECK(gf.tensors[i].second.to_vector<float>() == wf.tensors[i].second.to_vector<float>());
      }
      CHECK(gf.metadata == wf.metadata);
    } else {
      CHECK(read_file(g) == read_file(w));
    }
  }
}

// kiso's task logits (E, K) on the task's examples, as predict() computes them: the examples
// tokenised and transformed by kiso, which must give the committed sequences transformers ran.
std::vector<float> kiso_logits(const FinetunedModel& m, const std::string& task_dir, int64_t& E) {
  std::vector<TaskExample> examples;
  for (const Json& pieces : read_json(task_dir + "/examples.json")) {
    TaskExample e;
    for (const Json& p : pieces) e.pieces.push_back(m.tokenizer.encode(p.get<std::string>()));
    examples.push_back(e);
  }
  TaskBatch batch = make_task_batch(m.info.kind, examples, m.info.special, m.info.max_len);
  safetensors::File inputs = safetensors::load(task_dir + "/inputs.safetensors");
  REQUIRE(inputs.tensors.size() == 2);
  CHECK(inputs.tensors[0].second.to_vector<int32_t>() == batch.ids.to_vector<int32_t>());  // (E, S, T)
  E = batch.examples;
  NoGradGuard no_grad;
  Variable hidden = m.model.hidden_states(batch.ids, Mode::eval());  // (N, T, C)
  return task_logits(m.head, hidden, batch, Mode::eval()).value().to_vector<float>();  // (E, K)
}

}  // namespace

TEST_SUITE("gpt") {

TEST_CASE("hf_export: exporting the committed model again gives the committed export, file by file") {
  TempDir tmp{"hf_export_again"};
  for (const Form& f : kForms) {
    INFO(f.task, " as ", f.head);
    FinetunedModel m = load_finetuned(kFixture + "/" + f.task + "/model");
    HfExport e = hf_export(m, parse_hf_head(f.head));
    std::string out = tmp.str(f.task + "_" + f.head);
    save_hf_export(out, m, e);
    check_same_dir(out, kFixture + "/" + f.task + "/" + f.head);
  }
}

TEST_CASE("hf_export: kiso's task logits equal transformers' on the export, in every form") {
  for (const Form& f : kForms) {
    INFO(f.task, " as ", f.head);
    std::string task_dir = kFixture + "/" + f.task;
    FinetunedModel m = load_finetuned(task_dir + "/model");
    int64_t E = 0;
    std::vector<float> ours = kiso_logits(m, task_dir, E);
    Json theirs = read_json(task_dir + "/reference.json")["logits"][f.head];
    REQUIRE(int64_t(theirs.size()) == E);
    int64_t K = int64_t(ours.size()) / E;
    double worst = 0;
    for (int64_t e = 0; e < E; ++e) {
      REQUIRE(int64_t(theirs[size_t(e)].size()) == K);
      for (int64_t k = 0; k < K; ++k)
        worst = std::max(worst, std::abs(double(ours[size_t(e * K + k)]) - theirs[size_t(e)][size_t(k)].get<double>()));
    }
    // Both sides compute in f32 with different summation orders (kiso's matmul vs torch's), over
    // 2 layers of dot products of length 16..64 (gpt1-entailment: 1 layer, 8..32) with values O(1):
    // a few ulps of the logits (|logit| < 2.5, ulp 2.4e-7) per operation; measured at most 7.2e-7
    // here. 1e-5 leaves room for another BLAS and stays far below a real mismatch: the fixture's
    // head biases are 0.04 to 0.29 in size, so a dropped bias, a missed half (similarity) or a wrong fold moves a logit by
    // 1.8e-2 at least.
    CHECK(worst < 1e-5);
    MESSAGE(f.task, " as ", f.head, ": max |kiso − transformers| = ", worst);
  }
}

TEST_CASE("hf_export: predict() gives the probabilities of transformers' text-classification pipeline") {
  // The pipeline got the raw texts (entailment: {"text": premise, "text_pair": hypothesis}): the
  // export's tokenizer.json tokenised and framed them (<|start|> ... [<|delim|> ...] <|extract|>),
  // OpenAIGPTForSequenceClassification pooled at the last non-pad token, then a softmax.
  for (std::string task : {"classification", "gpt1-entailment"}) {
    INFO(task);
    std::string task_dir = kFixture + "/" + task;
    FinetunedModel m = load_finetuned(task_dir + "/model");
    CHECK(m.tokenizer.kind() == (task == "classification" ? TokenizerKind::byte_level : TokenizerKind::gpt1));
    std::vector<TaskExample> examples;
    for (const Json& pieces : read_json(task_dir + "/examples.json")) {
      TaskExample e;
      for (const Json& p : pieces) e.pieces.push_back(m.tokenizer.encode(p.get<std::string>()));
      examples.push_back(e);
    }
    Predictions p = predict(m, examples);
    Json theirs = read_json(task_dir + "/reference.json")["pipeline"];
    REQUIRE(theirs.size() == p.probs.size());
    double worst = 0;
    for (size_t e = 0; e < p.probs.size(); ++e) {
      REQUIRE(theirs[e].size() == p.probs[e].size());
      for (size_t k = 0; k < p.probs[e].size(); ++k)
        worst = std::max(worst, std::abs(p.probs[e][k] - theirs[e][k].get<double>()));
    }
    // Probabilities of the logits compared above (softmax does not enlarge absolute differences:
    // its Jacobian's entries are below 1/4 in size); the same 1e-5, far below the 1e-2 a head or
    // tokenizer mistake makes.
    CHECK(worst < 1e-5);
    MESSAGE(task, " pipeline: max |kiso − transformers| = ", worst);
  }
}

TEST_CASE("fold_bias: A β' = A β + b exactly in f64, β' − β in A's row space; (nearly) dependent rows refused") {
  Generator gen{5};
  int64_t K = 3, C = 7;
  std::vector<double> A = to_dtype(randn({K, C}, gen), DType::f64).to_vector<double>();
  std::vector<double> beta = to_dtype(randn({C}, gen), DType::f64).to_vector<double>();
  std::vector<double> b = {0.5, -1.25, 2.0};
  std::vector<double> folded = fold_bias(A, K, C, beta, b);
  for (int64_t k = 0; k < K; ++k) {
    double moved = 0;  // A (β' − β), which must be b
    for (int64_t c = 0; c < C; ++c) moved += A[size_t(k * C + c)] * (folded[size_t(c)] - beta[size_t(c)]);
    CHECK(moved == doctest::Approx(b[size_t(k)]).epsilon(1e-12));  // f64 solve of a 3x3 system
  }
  // Smallest change: β' − β is orthogonal to A's null space. A vector of that null space: the
  // component of a random u orthogonal to the rows of A (Gram–Schmidt on the rows, in f64).
  std::vector<double> u = to_dtype(randn({C}, gen), DType::f64).to_vector<double>();
  std::vector<std::vector<double>> q;
  for (int64_t k = 0; k < K; ++k) {
    std::vector<double> r(A.begin() + k * C, A.begin() + (k + 1) * C);
    for (const auto& p : q) {
      double d = 0;
      for (int64_t c = 0; c < C; ++c) d += r[size_t(c)] * p[size_t(c)];
      for (int64_t c = 0; c < C; ++c) r[size_t(c)] -= d * p[size_t(c)];
    }
    double n = 0;
    for (double x : r) n += x * x;
    for (double& x : r) x /= std::sqrt(n);
    q.push_back(r);
  }
  for (const auto& p : q) {
    double d = 0;
    for (int64_t c = 0; c < C; ++c) d += u[size_t(c)] * p[size_t(c)];
    for (int64_t c = 0; c < C; ++c) u[size_t(c)] -= d * p[size_t(c)];
  }
  double dot = 0;
  for (int64_t c = 0; c < C; ++c) dot += u[size_t(c)] * (folded[size_t(c)] - beta[size_t(c)]);
  CHECK(std::abs(dot) < 1e-12);

  // Two equal rows (two classes with the same weights): no β' moves them apart.
  std::vector<double> twin = A;
  std::copy(A.begin(), A.begin() + C, twin.begin() + C);
  CHECK_THROWS_WITH(fold_bias(twin, K, C, beta, b), doctest::Contains("--as double-heads"));
  // Nearly equal (1e-5 apart): solvable in f64, but β' would be ~1e5 |b| and f32 would lose b.
  twin[size_t(C)] += 1e-5;
  CHECK_THROWS_WITH(fold_bias(twin, K, C, beta, b), doctest::Contains("linearly dependent"));
  // More classes than channels: A Aᵀ has rank <= C < K.
  std::vector<double> wide = to_dtype(randn({4, 3}, gen), DType::f64).to_vector<double>();
  CHECK_THROWS_WITH(fold_bias(wide, 4, 3, {0, 0, 0}, {1, 2, 3, 4}), doctest::Contains("linearly dependent"));
}

TEST_CASE("hf_export: what transformers cannot hold is refused by name") {
  FinetunedModel mc = load_finetuned(kFixture + "/multiple-choice/model");
  CHECK_THROWS_WITH(hf_export(mc, HfHead::sequence_classification), doctest::Contains("double-heads only"));
  FinetunedModel m = load_finetuned(kFixture + "/classification/model");
  GPTConfig post = m.model.config;
  m.model.config.block.norm = Norm::pre;
  CHECK_THROWS_WITH(hf_export(m, HfHead::double_heads), doctest::Contains("post-LN only"));
  m.model.config = post;
  m.model.config.block.n_inner = 48;
  CHECK_THROWS_WITH(hf_export(m, HfHead::double_heads), doctest::Contains("4 × n_embd"));
  m.model.config = post;
  m.model.config.block.activation = GeluKind::erf;
  CHECK_THROWS_WITH(hf_export(m, HfHead::sequence_classification), doctest::Contains("gelu_exact"));
  CHECK_THROWS_WITH(parse_hf_head("lm-head"), doctest::Contains("sequence-classification or double-heads"));
}

TEST_CASE("kiso export: the command writes the export, and refuses a bad --model, an existing --out, a bad --as") {
  TempDir tmp{"hf_export_command"};
  auto run = [](const std::vector<std::string>& args) {
    CLI::App app{"kiso"};
    add_export(app);
    return testing::parse_capturing(app, args);
  };
  std::string model = kFixture + "/similarity/model", out = tmp.str("hf");
  Json j = parse_json_strict(run({"export", "--model", model, "--out", out, "--json"}), "export --json");
  CHECK(j["class"] == "OpenAIGPTDoubleHeadsModel");  // similarity's default form
  CHECK(j["head"] == "double-heads");
  check_same_dir(out, kFixture + "/similarity/double-heads");
  CHECK_THROWS_WITH(run({"export", "--model", model, "--out", out}), doctest::Contains("already exists"));
  CHECK_THROWS_WITH(run({"export", "--model", kFixture + "/similarity/double-heads", "--out", tmp.str("x")}),
                    doctest::Contains("not a fine-tuned model directory"));
  CHECK_THROWS_WITH(run({"export", "--model", model, "--out", tmp.str("y"), "--as", "lm"}),
                    doctest::Contains("unknown head form 'lm'"));
  CHECK_FALSE(fs::exists(tmp.str("x")));
  CHECK_FALSE(fs::exists(tmp.str("y")));
}

}  // TEST_SUITE
