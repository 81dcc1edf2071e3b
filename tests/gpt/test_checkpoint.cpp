// tests/gpt/test_checkpoint.cpp — model directories: save -> load is bit-exact, and loading
// refuses missing, unexpected and mis-shaped tensors and bad config values, naming them.
// Oracle: the saved model itself (bit equality), and hand-built files for the error cases.
#include <doctest/doctest.h>

#include "tests/temp_dir.h"

#include <cmath>
#include <filesystem>
#include <limits>

#include "gpt/atomic_file.h"
#include "gpt/checkpoint.h"

using namespace kiso;
namespace fs = std::filesystem;


static GPTConfig test_config() {
  GPTConfig c;
  c.vocab_size = 30, c.n_ctx = 12, c.n_layer = 2, c.block.n_head = 2, c.block.n_embd = 8, c.block.n_inner = 20;
  return c;
}

// doctest::Contains of a message built at run time (it copies the text).
static doctest::Contains contains(const std::string& s) { return doctest::Contains(s.c_str()); }

static Tensor ids_2x5() { return from_vector(std::vector<int32_t>{1, 5, 9, 29, 0, 3, 3, 7, 12, 2}, {2, 5}); }

TEST_SUITE("gpt") {

TEST_CASE("save -> load is bit-exact and gives the same loss") {
  TempDir dir("ckpt_roundtrip");
  for (Norm norm : {Norm::post, Norm::pre}) {
    GPTConfig c = test_config();
    c.block.norm = norm;
    c.block.activation = norm == Norm::pre ? GeluKind::erf : GeluKind::tanh;
    Generator gen{1};
    GPT model(c, gen);
    save_model(dir.str("m"), model);
    GPT loaded = load_model(dir.str("m"));
    CHECK(loaded.config.block.norm == norm);
    CHECK(loaded.config.block.activation == c.block.activation);
    CHECK(loaded.config.block.n_inner == 20);
    Parameters a = model.parameters(), b = loaded.parameters();
    REQUIRE(a.size() == b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      INFO(a[i].name);
      CHECK(a[i].name == b[i].name);
      CHECK(a[i].variable->value().to_vector<float>() == b[i].variable->value().to_vector<float>());
    }
    Tensor ids = ids_2x5();
    CHECK(model.loss(ids, ids, Mode::eval()).value().item() == loaded.loss(ids, ids, Mode::eval()).value().item());
  }
}

TEST_CASE("config.json carries the Hugging Face OpenAIGPTConfig fields; the weights their names") {
  TempDir dir("ckpt_fields");
  Generator gen{2};
  GPT model(test_config(), gen);
  save_model(dir.str(), model);
  Json j = parse_json_strict(read_file(dir.str("config.json")), "config.json");
  CHECK(j["model_type"] == "openai-gpt");
  CHECK(j["n_positions"] == 12);
  CHECK(j["afn"] == "gelu");  // Hugging Face openai-gpt's name for the tanh approximation
  CHECK(j["kiso_norm"] == "post");
  safetensors::File f = safetensors::load(dir.str("model.safetensors"));
  CHECK(f.metadata.at("format") == "pt");
  CHECK(f.tensors.size() == model.parameters().size());  // the tied head is stored once
  CHECK(f.tensors[0].first == "tokens_embed.weight");
  bool has_c_fc = false;
  for (auto& [name, t] : f.tensors) has_c_fc |= name == "h.1.mlp.c_fc.weight" && t.shape() == Shape{8, 20};
  CHECK(has_c_fc);
}

TEST_CASE("weights load with the 'transformer.' prefix and with a tied lm_head.weight") {
  Generator gen{3};
  GPT model(test_config(), gen);
  safetensors::NamedTensors tensors;
  for (const NamedParameter& p : model.parameters()) tensors.emplace_back("transformer." + p.name, p.variable->value().clone());
  tensors.emplace_back("lm_head.weight", model.tokens_embed.weight.value().clone());
  Generator other{4};
  GPT target(test_config(), other);
  load_weights(target, safetensors::parse(safetensors::serialize(tensors), "hf.safetensors"), "hf.safetensors");
  CHECK(target.h[1].ln_2.bias.value().to_vector<float>() == model.h[1].ln_2.bias.value().to_vector<float>());
  // An untied head is refused.
  tensors.back().second = zeros(model.tokens_embed.weight.shape());
  CHECK_THROWS_WITH_AS(load_weights(target, safetensors::parse(safetensors::serialize(tensors), "hf"), "hf"),
                       doctest::Contains("lm_head.weight differs from tokens_embed.weight"), Error);
}

TEST_CASE("missing, unexpected and mis-shaped tensors are errors naming the tensor") {
  Generator gen{5};
  GPT model(test_config(), gen);
  auto all = [&] {
    safetensors::NamedTensors t;
    for (const NamedParameter& p : model.parameters()) t.emplace_back(p.name, p.variable->value().clone());
    return t;
  };
  auto load = [&](const safetensors::NamedTensors& t) {
    load_weights(model, safetensors::parse(safetensors::serialize(t), "m.safetensors"), "m.safetensors");
  };
  safetensors::NamedTensors missing = all();
  missing.erase(missing.begin() + 5);
  CHECK_THROWS_WITH_AS(load(missing), doctest::Contains("m.safetensors: missing tensor 'h.0.attn.c_proj.bias'"), Error);
  safetensors::NamedTensors extra = all();
  extra.emplace_back("h.2.ln_1.weight", zeros({8}));
  CHECK_THROWS_WITH_AS(load(extra), doctest::Contains("unexpected tensor 'h.2.ln_1.weight'"), Error);
  safetensors::NamedTensors shaped = all();
  shaped[2].second = zeros({8, 8});
  CHECK_THROWS_WITH_AS(load(shaped), doctest::Contains("tensor 'h.0.attn.c_attn.weight' has shape (8, 8), but the config needs (8, 24)"), Error);
  safetensors::NamedTensors wrong_dtype = all();
  wrong_dtype[0].second = zeros({30, 8}, DType::f64);
  CHECK_THROWS_WITH_AS(load(wrong_dtype), doctest::Contains("tensor 'tokens_embed.weight' is f64"), Error);
}

TEST_CASE("config.json: bad values and unknown keys are errors naming the key") {
  Json good = config_to_json(test_config());
  CHECK(config_from_json(good, "c.json").block.n_embd == 8);
  auto with = [&](const char* key, Json value) {
    Json j = good;
    j[key] = value;
    return j;
  };
  CHECK_THROWS_WITH_AS(config_from_json(with("n_embd", 8.5), "c.json"), doctest::Contains("n_embd"), Error);
  CHECK_THROWS_WITH_AS(config_from_json(with("n_head", 3), "c.json"), doctest::Contains("c.json: GPTConfig: n_embd (8) must be a multiple of n_head (3)"), Error);
  CHECK_THROWS_WITH_AS(config_from_json(with("afn", "relu"), "c.json"), doctest::Contains("afn \"relu\" is not supported"), Error);
  CHECK_THROWS_WITH_AS(config_from_json(with("n_embed", 8), "c.json"), doctest::Contains("unknown key \"n_embed\""), Error);
  CHECK_THROWS_WITH_AS(config_from_json(with("kiso_norm", "middle"), "c.json"), doctest::Contains("kiso_norm \"middle\""), Error);
  Json no_vocab = good;
  no_vocab.erase("vocab_size");
  CHECK_THROWS_WITH_AS(config_from_json(no_vocab, "c.json"), doctest::Contains("vocab_size"), Error);
  // Keys Hugging Face writes and kiso does not use are accepted; HF's defaults fill omissions.
  Json hf = with("summary_type", "cls_index");
  hf.erase("n_inner");
  hf.erase("afn");
  GPTConfig c = config_from_json(hf, "c.json");
  CHECK(c.block.n_inner == 32);                 // 4 · n_embd
  CHECK(c.block.activation == GeluKind::tanh);  // HF's default afn "gelu" is the tanh form there
  CHECK(config_from_json(with("afn", "gelu_new"), "c.json").block.activation == GeluKind::tanh);
  CHECK(config_from_json(with("afn", "gelu_exact"), "c.json").block.activation == GeluKind::erf);
}

TEST_CASE("config.json as transformers writes it: every key read, checked or knowingly ignored; a typo still refused") {
  // The config.json transformers 5.24's OpenAIGPTLMHeadModel.save_pretrained wrote (shape keys
  // set to test_config's), plus the keys of OpenAI's released openai-gpt config and of older
  // transformers versions' full dumps.
  Json hf = parse_json_strict(R"({
    "afn": "gelu", "architectures": ["OpenAIGPTLMHeadModel"], "attn_pdrop": 0.1, "bos_token_id": null,
    "dtype": "float32", "embd_pdrop": 0.1, "eos_token_id": null, "initializer_range": 0.02,
    "layer_norm_epsilon": 1e-05, "model_type": "openai-gpt", "n_embd": 8, "n_head": 2, "n_layer": 2,
    "n_positions": 12, "pad_token_id": null, "resid_pdrop": 0.1, "summary_activation": null,
    "summary_first_dropout": 0.1, "summary_proj_to_labels": true, "summary_type": "cls_index",
    "summary_use_proj": true, "tie_word_embeddings": true, "transformers_version": "5.24.0", "vocab_size": 30,
    "n_ctx": 12, "n_special": 0, "predict_special_tokens": true,
    "task_specific_params": {"text-generation": {"do_sample": true, "max_length": 50}},
    "torch_dtype": "float32", "pruned_heads": {}, "output_past": true, "use_cache": true, "num_beams": 1,
    "id2label": {"0": "LABEL_0"}, "label2id": {"LABEL_0": 0}, "_name_or_path": "openai-gpt"})",
                              "hf.json");
  GPTConfig c = config_from_json(hf, "config.json");
  CHECK(c.vocab_size == 30);
  CHECK(c.n_ctx == 12);
  CHECK(c.block.n_inner == 32);  // absent: transformers' 4 · n_embd
  auto with = [&](const char* key, Json value) {
    Json j = hf;
    j[key] = value;
    return j;
  };
  // 16-bit weights are widened on load, so their dtype names are accepted, with or without torch.
  for (const char* dtype : {"float16", "bfloat16", "torch.float16"}) {
    CAPTURE(dtype);
    CHECK_NOTHROW(config_from_json(with("dtype", dtype), "config.json"));
    CHECK_NOTHROW(config_from_json(with("torch_dtype", dtype), "config.json"));
  }
  CHECK_THROWS_WITH_AS(config_from_json(with("dtype", "int8"), "config.json"),
                       doctest::Contains("config.json: dtype \"int8\" is not a weight type kiso reads"), Error);
  CHECK_THROWS_WITH_AS(config_from_json(with("torch_dtype", "float8_e4m3fn"), "config.json"),
                       doctest::Contains("torch_dtype \"float8_e4m3fn\""), Error);
  // What would change the network kiso builds is checked, not ignored.
  CHECK_THROWS_WITH_AS(config_from_json(with("tie_word_embeddings", false), "config.json"),
                       doctest::Contains("tie_word_embeddings is false"), Error);
  CHECK_THROWS_WITH_AS(config_from_json(with("n_ctx", 13), "config.json"),
                       doctest::Contains("n_ctx (13) differs from n_positions (12)"), Error);
  CHECK_THROWS_WITH_AS(config_from_json(with("model_type", "gpt2"), "config.json"),
                       doctest::Contains("model_type \"gpt2\" is not GPT-1's"), Error);
  CHECK_THROWS_WITH_AS(config_from_json(with("pruned_heads", Json{{"0", {1}}}), "config.json"),
                       doctest::Contains("pruned_heads is {\"0\":[1]}"), Error);
  // A key no one writes is still refused, with the nearest known key as a hint.
  CHECK_THROWS_WITH_AS(config_from_json(with("n_embed", 8), "config.json"),
                       doctest::Contains("unknown key \"n_embed\" (did you mean \"n_embd\"?)"), Error);
  CHECK_THROWS_WITH_AS(config_from_json(with("bos_token", 1), "config.json"),
                       doctest::Contains("unknown key \"bos_token\" (did you mean \"bos_token_id\"?)"), Error);
  CHECK_THROWS_WITH_AS(config_from_json(with("colour", "blue"), "config.json"),
                       doctest::Contains("unknown key \"colour\"; kiso reads"), Error);
}

TEST_CASE("issue 13 defect 6: a NaN or infinite weight is refused, naming the tensor, the element and the value") {
  Generator gen{6};
  GPT model(test_config(), gen);
  auto all = [&] {
    safetensors::NamedTensors t;
    for (const NamedParameter& p : model.parameters()) t.emplace_back(p.name, p.variable->value().clone());
    return t;
  };
  Generator other{7};
  GPT target(test_config(), other);
  const std::vector<float> before = target.tokens_embed.weight.value().to_vector<float>();
  auto load = [&](const safetensors::NamedTensors& t) {
    load_weights(target, safetensors::parse(safetensors::serialize(t), "m.safetensors"), "m.safetensors");
  };
  // tensors[2] is h.0.attn.c_attn.weight, (8, 24): element [1, 3] is flat index 1·24 + 3 = 27.
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    safetensors::NamedTensors tensors = all();
    REQUIRE(tensors[2].first == "h.0.attn.c_attn.weight");
    tensors[2].second.data<float>()[27] = bad;
    std::string value = std::isnan(bad) ? "nan" : bad > 0 ? "inf" : "-inf";
    CHECK_THROWS_WITH_AS(load(tensors),
                         contains("m.safetensors: tensor 'h.0.attn.c_attn.weight' holds a non-finite value: "
                                  "element [1, 3] (flat index 27) is " + value),
                         Error);
  }
  // Nothing was copied: the refusal comes before the first parameter is overwritten.
  CHECK(target.tokens_embed.weight.value().to_vector<float>() == before);
  // The first bad element is named, in the file's tensor order (a NaN in an lm_head.weight too).
  safetensors::NamedTensors two = all();
  two[0].second.data<float>()[5] = std::numeric_limits<float>::quiet_NaN();
  two[0].second.data<float>()[3] = std::numeric_limits<float>::infinity();
  CHECK_THROWS_WITH_AS(load(two), doctest::Contains("tensor 'tokens_embed.weight' holds a non-finite value: element "
                                                     "[0, 3] (flat index 3) is inf"),
                       Error);
  safetensors::NamedTensors head = all();
  head.emplace_back("lm_head.weight", head[0].second.clone());
  head.back().second.data<float>()[9] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH_AS(load(head), doctest::Contains("tensor 'lm_head.weight' holds a non-finite value: element [1, 1]"),
                       Error);
}

TEST_CASE("issue 13 defect 6: load_model of a directory with a NaN weight names the file and the tensor") {
  TempDir dir("ckpt_nan");
  Generator gen{8};
  GPT model(test_config(), gen);
  Tensor bias = model.h[1].mlp.c_proj.bias.value();  // shares the parameter's storage
  bias.data<float>()[2] = std::numeric_limits<float>::quiet_NaN();
  save_model(dir.str(), model);  // saving is allowed: a diverged run's checkpoint is kept for a post-mortem
  CHECK_THROWS_WITH_AS(load_model(dir.str()),
                       contains(dir.str("model.safetensors") +
                                ": tensor 'h.1.mlp.c_proj.bias' holds a non-finite value: element [2] (flat index 2) is nan"),
                       Error);
}

TEST_CASE("issue 13 defects 1-2: a model directory whose config.json is too large is refused before allocating") {
  TempDir dir("ckpt_huge");
  Generator gen{9};
  GPT model(test_config(), gen);
  save_model(dir.str(), model);
  Json j = parse_json_strict(read_file(dir.str("config.json")), "config.json");
  j["n_layer"] = 1'000'000'000;
  write_file_atomic(dir.str("config.json"), j.dump());
  CHECK_THROWS_WITH_AS(load_model(dir.str()),
                       contains(dir.str("config.json") + ": GPTConfig: n_layer 1000000000 × 668 parameters a block"),
                       Error);
  j["n_layer"] = 2;
  j["vocab_size"] = int64_t(1) << 57;  // × n_embd 8 = 2^60 elements: once a wrapped or huge tensor
  write_file_atomic(dir.str("config.json"), j.dump());
  CHECK_THROWS_WITH_AS(load_model(dir.str()), contains(dir.str("config.json") + ": GPTConfig: vocab_size 144115188075855872"),
                       Error);
}

TEST_CASE("a model directory that cannot be read names the file") {
  CHECK_THROWS_WITH_AS(load_model("/nonexistent/kiso/model"), doctest::Contains("/nonexistent/kiso/model/config.json"), Error);
}

}  // TEST_SUITE

TEST_SUITE("gpt") {

TEST_CASE("a model built without a generator draws nothing: zero weights, LayerNorm gains 1") {
  GPT shell(test_config());  // the shell load_model fills
  for (const NamedParameter& p : shell.parameters()) {
    INFO(p.name);
    float want = p.name.find("ln_") != std::string::npos && p.name.ends_with(".weight") ? 1.0f : 0.0f;
    std::vector<float> v = p.variable->value().to_vector<float>();
    CHECK(std::all_of(v.begin(), v.end(), [want](float x) { return x == want; }));
  }
}

}  // TEST_SUITE
