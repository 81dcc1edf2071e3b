// tests/reference/make_hf_export_fixture.cpp — writes the kiso half of the `kiso export` fixture
// (tests/gpt/data/hf_export/): four tiny fine-tuned models with random weights, and the
// sequences kiso feeds them for a few examples.
//
//   build/make_hf_export_fixture DIR  -> DIR/<task>/model/            a fine-tuned model directory
//                                        DIR/<task>/examples.json     the examples' texts
//                                        DIR/<task>/inputs.safetensors ids (E, S, T) i32, as
//                                            make_task_batch pads them; extract (E, S) i32, the
//                                            EXTRACT position in each row
// for <task> = classification (3 labels), similarity (2 labels), multiple-choice (3 candidates),
// all three with a byte-level BPE trained here, and gpt1-entailment (3 labels, text pairs) with
// GPT-1's own BPE (tests/gpt/data/gpt1_tokenizer, 1,000 tokens; 1,004 with kiso's specials).
// `make hf-export-reference` runs this, then `kiso export` on each model (every form its task
// has; gpt1-entailment only as sequence-classification, its default, to keep the fixture small),
// then tests/reference/make_hf_export_reference.py, which runs transformers on the exports;
// tests/gpt/test_hf_export.cpp checks kiso against all of it.
// The models are small to keep the committed fixture small (2 layers, n_embd 16, vocabulary 270;
// gpt1-entailment: 1 layer, n_embd 8, vocabulary 1,004), with what a trained model has and a
// fresh one lacks: LayerNorm gains and biases away from 1 and 0, a head bias away from 0, weights
// larger than GPT's 0.02 (non-trivial attention).
// Everything is seeded: rerunning it rewrites identical files.
#include <cstdio>
#include <filesystem>

#include "gpt/atomic_file.h"
#include "gpt/finetuned.h"
#include "gpt/safetensors.h"

using namespace kiso;

namespace {

const char* kCorpus =
    "the cat sat on the mat. a dog ran in the park. the tea was good and the cake was bad. "
    "is the soup hot? yes, the soup is hot. no, the dog did not sit. the park is green. ";

struct Task {
  const char* name;
  TaskKind kind;
  std::vector<std::string> labels;
  int64_t candidates;
  std::vector<std::vector<std::string>> examples;  // each example's pieces
  int64_t n_layer = 2, n_embd = 16;
};

// Moves every parameter of `params` away from its initial value: LayerNorm gains to 1 + N(0, 0.1²),
// every other tensor (LayerNorm biases, head bias included) to itself + N(0, 0.1²).
void perturb(Parameters params, Generator& gen) {
  for (const NamedParameter& p : params) {
    const Tensor& v = p.variable->value();
    Tensor noise = mul(randn(v.shape(), gen), 0.1);
    *p.variable = Variable(add(v, noise), true);
  }
}

void make_task(const std::string& dir, const Task& task, const Tokenizer& tok, uint64_t seed) {
  GPTConfig c;
  c.vocab_size = tok.vocab_size(), c.n_ctx = 32, c.n_layer = task.n_layer;
  c.block.n_head = 2, c.block.n_embd = task.n_embd, c.block.n_inner = 4 * task.n_embd;
  c.initializer_range = 0.2;
  Generator gen{seed};
  TaskInfo info;
  info.kind = task.kind;
  info.labels = task.labels;
  info.candidates = task.candidates;
  info.max_len = 32;
  info.special = {tok.special("<|start|>"), tok.special("<|delim|>"), tok.special("<|extract|>"),
                  tok.special("<|endoftext|>")};
  Init init{&gen, DType::f32, 0.2};
  GPT model(c, gen);
  TaskHead head(task.kind, c.block.n_embd, head_classes(info), info.head_dropout, init);
  perturb(model.parameters(), gen);
  perturb(head.parameters(), gen);
  FinetunedModel m{std::move(model), std::move(head), info, tok};
  std::string task_dir = dir + "/" + task.name;
  std::filesystem::create_directories(task_dir);
  save_finetuned(task_dir + "/model", m, Json{{"made_by", "tests/reference/make_hf_export_fixture.cpp"}});

  std::vector<TaskExample> examples;
  for (const auto& pieces : task.examples) {
    TaskExample e;
    for (const std::string& p : pieces) e.pieces.push_back(tok.encode(p));
    examples.push_back(e);
  }
  TaskBatch batch = make_task_batch(task.kind, examples, info.special, info.max_len);
  int64_t E = batch.examples, S = batch.per_example, T = batch.ids.size(1);
  std::vector<int32_t> flat = batch.extract.to_vector<int32_t>(), positions;
  for (int64_t n = 0; n < E * S; ++n) positions.push_back(int32_t(flat[size_t(n)] - n * T));
  safetensors::save(task_dir + "/inputs.safetensors",
                    {{"ids", batch.ids.reshape({E, S, T})}, {"extract", from_vector(positions, {E, S})}});
  write_file_atomic(task_dir + "/examples.json", Json(task.examples).dump(1) + "\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  std::string dir = argv[1];
  try {
    std::string corpus;
    for (int i = 0; i < 10; ++i) corpus += kCorpus;
    Tokenizer tok = Tokenizer::train(corpus, 270);
    std::vector<Task> tasks = {
        {"classification", TaskKind::classification, {"bad", "fine", "good"}, 0,
         {{"the tea was good"}, {"the cake was bad and the soup is hot"}, {"a dog"}, {"is the park green?"},
          {"the cat sat on the mat and the dog ran in the park; the tea was good"}}},  // > max_len: cut
        {"similarity", TaskKind::similarity, {"different", "same"}, 0,
         {{"the cat sat", "a cat sat on the mat"}, {"the dog ran in the park", "tea"}, {"yes", "no, the soup"},
          {"is the soup hot? yes, the soup is hot.", "the cake was bad and the tea was good"}}},  // both cut
        {"multiple-choice", TaskKind::multiple_choice, {}, 3,
         {{"the soup is", "hot", "green and bad", "a dog"}, {"the cat sat on the", "mat", "park", "tea was good"}}},
    };
    uint64_t seed = 19;
    for (const Task& task : tasks) make_task(dir, task, tok, seed++);

    // GPT-1's own tokenizer kind (the 1,000-token fixture of make_gpt1_tokenizer_reference.py;
    // kiso's four special tokens get ids 1000..1003), on texts that go through each step of its
    // pipeline: capitals (lowercased), accents (stripped: "Café" is "cafe"), punctuation (split
    // off), and characters the vocabulary lacks ("€", "☃": <unk>). An entailment model: the
    // pair framing <|start|> premise <|delim|> hypothesis <|extract|>. One layer and n_embd 8:
    // the 1,004-token embedding is most of its size, and it is committed twice (the model and its
    // export), so this keeps the fixture near 650 KB (n_embd 16 and 1 layer: 80 KB a copy).
    Tokenizer gpt1 = Tokenizer::load(std::string(KISO_SOURCE_DIR) + "/tests/gpt/data/gpt1_tokenizer");
    Task entailment{"gpt1-entailment", TaskKind::entailment, {"entailment", "neutral", "contradiction"}, 0,
                    {{"The Café opens at 9.", "the cafe is OPEN in the morning!"},
                     {"Naïve users don't read licences; they agree.", "Nobody reads (it)."},
                     {"It costs 5€, tax included.", "The price is €5 \"plus tax\"."},
                     {"Snow ☃ fell on Tuesday.", "It was warm"}},
                    1, 8};
    make_task(dir, entailment, gpt1, seed++);
    std::printf("wrote %s/{classification, similarity, multiple-choice, gpt1-entailment}\n", dir.c_str());
  } catch (const Error& e) {
    std::fprintf(stderr, "make_hf_export_fixture: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
