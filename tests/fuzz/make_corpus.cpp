// tests/fuzz/make_corpus.cpp — writes the seed corpora of the fuzz targets
// (tests/fuzz/corpus/<target>/), valid files made by kiso's own writers and malformed ones made
// from them by hand, one defect each.
//
// Run by `make fuzz-corpus` (which rewrites tests/fuzz/corpus); the output is committed, so a
// fuzz run needs nothing but the repository. Every file is small (a few KB at most) because
// libFuzzer takes its default -max_len from the largest seed, and short inputs run fast.
// Each malformed seed's name says what is wrong with it, so a finding that starts from one is
// easy to read. What it is not: a test; the targets decide what each file means.
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "gpt/atomic_file.h"
#include "gpt/checkpoint.h"
#include "gpt/finetuned.h"
#include "gpt/json.h"
#include "gpt/safetensors.h"
#include "gpt/tokenizer.h"
#include "tensor/tensor.h"
#include "train/shards.h"

using namespace kiso;
namespace fs = std::filesystem;

namespace {

fs::path root;

void put(const std::string& target, const std::string& name, std::string_view bytes) {
  fs::create_directories(root / target);
  std::ofstream out(root / target / name, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
}

std::string le64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[size_t(i)] = char((v >> (8 * i)) & 0xff);
  return s;
}

// A safetensors file with `header` as its JSON header (padded with spaces to 8 bytes) and `data`.
std::string safetensors_bytes(std::string header, std::string_view data) {
  while (header.size() % 8 != 0) header += ' ';
  return le64(header.size()) + header + std::string(data);
}

Tensor f32(const std::vector<float>& values, const Shape& shape) { return from_vector(values, shape); }

void safetensors_corpus() {
  const std::string t = "safetensors";
  put(t, "valid_f32", safetensors::serialize({{"wte.weight", f32({1, 2, 3, 4, 5, 6}, {2, 3})},
                                              {"ln.bias", f32({0.5f, -0.5f, 0, 1}, {4})}},
                                             {{"format", "pt"}}));
  put(t, "valid_mixed_dtypes", safetensors::serialize({{"scalar", from_vector(std::vector<double>{3.5}, {})},
                                                       {"ids", from_vector(std::vector<int32_t>{7, -1, 0}, {3})},
                                                       {"empty", f32({}, {0, 4})}}));
  put(t, "valid_no_tensors", safetensors::serialize({}));
  put(t, "valid_metadata_only", safetensors::serialize({}, {{"format", "pt"}, {"note", "héllo"}}));
  std::string eight(8, '\1');
  auto broken = [&](const char* name, const std::string& header, std::string_view data) {
    put(t, name, safetensors_bytes(header, data));
  };
  broken("bad_dtype_bf16", R"({"a":{"dtype":"BF16","shape":[4],"data_offsets":[0,8]}})", eight);
  broken("bad_shape_too_big", R"({"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,8]}})", eight);
  broken("bad_shape_negative", R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", eight);
  broken("bad_shape_float", R"({"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", eight);
  broken("bad_offsets_overlap", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", eight);
  broken("bad_offsets_gap", R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", eight);
  broken("bad_offsets_reversed", R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", eight);
  broken("bad_offsets_huge", R"({"a":{"dtype":"I32","shape":[2],"data_offsets":[18446744073709551608,0]}})", eight);
  broken("bad_trailing_byte", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", eight + "x");
  broken("bad_missing_data", R"({"a":{"dtype":"F64","shape":[2],"data_offsets":[0,16]}})", eight);
  broken("bad_duplicate_key", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                              R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", eight);
  broken("bad_extra_field", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}})", eight);
  broken("bad_metadata_number", R"({"__metadata__":{"format":1}})", "");
  broken("bad_header_array", R"([1,2,3])", "");
  broken("bad_header_nul", std::string("{\"a\":\"\0\"}", 9), "");
  put(t, "bad_header_length_huge", le64(uint64_t(1) << 62) + "{}");
  put(t, "bad_header_length_past_end", le64(100) + "{}      ");
  put(t, "bad_short", std::string("\x02\0\0\0", 4));
}

void json_corpus() {
  const std::string t = "json";
  put(t, "config", config_to_json(preset("tiny")).dump(2));
  put(t, "header", R"({"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}})");
  put(t, "scalars", R"([0, -0, 1.5e300, -1e-300, 18446744073709551615, -9223372036854775808, true, false, null, ""])");
  put(t, "unicode", R"({"é":"\u00e9\ud83d\ude00","\t":"line\nbreak","日本":"\\\/\""})");
  put(t, "nested", R"({"a":{"b":{"c":[[[{"d":[1,{"e":null}]}]]]}}})");
  put(t, "deep", std::string(2000, '[') + std::string(2000, ']'));
  put(t, "bad_duplicate", R"({"a":1,"b":{"c":2,"c":3}})");
  put(t, "bad_nul_byte", std::string("{}\0garbage", 10));
  put(t, "bad_nul_escape", R"({"a\u0000b":1})");
  put(t, "bad_lone_surrogate", R"(["\ud800"])");
  put(t, "bad_utf8", "[\"\xc0\xaf\"]");
  put(t, "bad_trailing", "{} {}");
  put(t, "bad_truncated", R"({"a":[1,2)");
  put(t, "bad_number", "[1e99999, 0x10, 01]");
}

void config_corpus() {
  const std::string t = "config";
  for (const std::string& name : preset_names()) put(t, "preset_" + name, config_to_json(preset(name)).dump(2));
  // As Hugging Face's openai-gpt config.json is written (keys kiso ignores included, no n_inner).
  put(t, "huggingface_openai_gpt", R"({"afn":"gelu","architectures":["OpenAIGPTLMHeadModel"],"attn_pdrop":0.1,)"
                                   R"("embd_pdrop":0.1,"initializer_range":0.02,"layer_norm_epsilon":1e-05,)"
                                   R"("model_type":"openai-gpt","n_ctx":512,"n_embd":768,"n_head":12,"n_layer":12,)"
                                   R"("n_positions":512,"n_special":0,"predict_special_tokens":true,)"
                                   R"("resid_pdrop":0.1,"summary_activation":null,"summary_first_dropout":0.1,)"
                                   R"("summary_proj_to_labels":true,"summary_type":"cls_index",)"
                                   R"("summary_use_proj":true,"vocab_size":40478})");
  auto variant = [&](const std::string& name, const char* key, Json value) {
    Json j = config_to_json(preset("tiny"));
    if (value.is_discarded())
      j.erase(key);
    else
      j[key] = value;
    put(t, name, j.dump());
  };
  variant("bad_vocab_2e57", "vocab_size", int64_t(1) << 57);
  variant("bad_n_inner_2e61", "n_inner", int64_t(1) << 61);
  variant("bad_n_positions_2e57", "n_positions", int64_t(1) << 57);
  variant("bad_n_embd_2e62", "n_embd", int64_t(1) << 62);
  variant("bad_n_layer_1e9", "n_layer", 1000000000);
  variant("bad_n_head_0", "n_head", 0);
  variant("bad_n_head_not_divisor", "n_head", 3);
  variant("bad_n_layer_float", "n_layer", 2.5);
  variant("bad_n_layer_string", "n_layer", "2");
  variant("bad_vocab_negative", "vocab_size", -5);
  variant("bad_pdrop_5", "resid_pdrop", 5);
  variant("bad_afn", "afn", "relu");
  variant("bad_norm", "kiso_norm", "middle");
  variant("missing_n_inner", "n_inner", Json(Json::value_t::discarded));
  variant("missing_vocab", "vocab_size", Json(Json::value_t::discarded));
  Json unknown = config_to_json(preset("tiny"));
  unknown["n_embed"] = 128;
  put(t, "bad_unknown_key", unknown.dump());
  put(t, "bad_not_object", "[]");
}

// A shard assembled byte by byte (train/shards.h layout), so that malformed headers can be made.
std::string shard_bytes(int32_t magic, int32_t version, int32_t count, const std::vector<uint16_t>& tokens) {
  std::string bytes(size_t(kShardHeaderBytes), '\0');
  std::memcpy(&bytes[0], &magic, 4);
  std::memcpy(&bytes[4], &version, 4);
  std::memcpy(&bytes[8], &count, 4);
  for (uint16_t tok : tokens) bytes.append(reinterpret_cast<const char*>(&tok), 2);
  return bytes;
}

void shards_corpus(const fs::path& scratch) {
  const std::string t = "shards";
  std::vector<int32_t> tokens;
  for (int i = 0; i < 100; ++i) tokens.push_back(i * 7 % 300);
  write_shard((scratch / "s.bin").string(), tokens);
  put(t, "valid_100_tokens", read_file((scratch / "s.bin").string()));
  write_shard((scratch / "s.bin").string(), {50256, 0, 50000});
  put(t, "valid_gpt2_ids", read_file((scratch / "s.bin").string()));
  std::vector<uint16_t> few = {1, 2, 3, 4};
  put(t, "bad_magic", shard_bytes(20240521, 1, 4, few));
  put(t, "bad_version", shard_bytes(kShardMagic, 2, 4, few));
  put(t, "bad_count_more", shard_bytes(kShardMagic, 1, 5, few));
  put(t, "bad_count_less", shard_bytes(kShardMagic, 1, 3, few));
  put(t, "bad_count_negative", shard_bytes(kShardMagic, 1, -1, few));
  put(t, "bad_count_max", shard_bytes(kShardMagic, 1, INT32_MAX, few));
  put(t, "bad_empty", shard_bytes(kShardMagic, 1, 0, {}));
  put(t, "bad_odd_size", shard_bytes(kShardMagic, 1, 2, {5, 6}) + "x");
  put(t, "bad_out_of_vocab", shard_bytes(kShardMagic, 1, 3, {1, 65535, 50257}));
  put(t, "bad_short_header", shard_bytes(kShardMagic, 1, 0, {}).substr(0, 100));
}

void tokenizer_corpus() {
  const std::string sep = "\n----8<----\n";
  std::string corpus;
  for (int i = 0; i < 4; ++i) corpus += "the cat sat on the mat; the dog's 12 bones, naïve café 日本 😀\n";
  const auto [vocab, merges, specials] = Tokenizer::train(corpus, 300).to_text();  // what save() writes
  const std::string t = "tokenizer_load";
  put(t, "kiso_saved", vocab + sep + merges + sep + specials);
  put(t, "gpt2_style_no_specials", vocab + sep + merges);
  // A hand-made GPT-2-like vocabulary: the 256 bytes in printable form, one merge, no specials.
  Json bytes_vocab = Json::object();
  for (int b = 0; b < 256; ++b) bytes_vocab[bytes_to_unicode(std::string(1, char(b)))] = b;
  bytes_vocab[bytes_to_unicode("th")] = 256;
  put(t, "bytes_and_one_merge", bytes_vocab.dump() + sep + "#version: 0.2\nt h\n");
  Json dup = bytes_vocab;
  dup[bytes_to_unicode("th")] = 5;
  put(t, "bad_repeated_id", dup.dump() + sep + "#version: 0.2\nt h\n");
  Json gap = bytes_vocab;
  gap[bytes_to_unicode("th")] = 300;
  put(t, "bad_id_out_of_range", gap.dump() + sep + "#version: 0.2\nt h\n");
  put(t, "bad_merge_unknown_part", bytes_vocab.dump() + sep + "#version: 0.2\nq z\n");
  put(t, "bad_merge_one_part", bytes_vocab.dump() + sep + "#version: 0.2\nth\n");
  put(t, "bad_merge_result_missing", bytes_vocab.dump() + sep + "#version: 0.2\nt h\nh e\n");
  put(t, "bad_no_version_line", bytes_vocab.dump() + sep + "t h\n");
  put(t, "bad_merges_utf8", bytes_vocab.dump() + sep + "#version: 0.2\n\xff h\n");
  put(t, "bad_specials_out_of_range", bytes_vocab.dump() + sep + "#version: 0.2\nt h\n" + sep +
                                          R"({"<|endoftext|>": 1000, "<|start|>": 0, "<|delim|>": 1, "<|extract|>": 2})");
  put(t, "bad_specials_unknown_name", bytes_vocab.dump() + sep + "#version: 0.2\nt h\n" + sep + R"({"<|pad|>": 0})");
  put(t, "bad_vocab_not_object", "[1, 2]" + sep + "#version: 0.2\n");
  put(t, "bad_vocab_missing_byte", R"({"a": 0, "b": 1})" + sep + "#version: 0.2\n");
  // GPT-1's kind (tokens with "</w>"): with and without "<unk>".
  const std::string gpt1_vocab = R"({"<unk>": 0, "t": 1, "h": 2, "e</w>": 3, "th": 4, "the</w>": 5, "a</w>": 6})";
  put(t, "gpt1_small", gpt1_vocab + sep + "#version: 0.2\nt h\nth e</w>\n");
  put(t, "gpt1_no_unk", R"({"t": 0, "h": 1, "e</w>": 2, "th": 3, "the</w>": 4})" + sep + "#version: 0.2\nt h\nth e</w>\n");
}

void encode_corpus(const std::string& source_dir) {
  const std::string t = "tokenizer_encode";
  Json ref = parse_json_strict(read_file(source_dir + "/tests/gpt/data/gpt2_reference.json"), "gpt2_reference.json");
  for (const Json& c : ref["cases"]) {
    std::string text = c["text"].get<std::string>();
    if (text.size() <= 2048) put(t, "gpt2_" + c["name"].get<std::string>(), text);
  }
  put(t, "bad_overlong_slash", "a\xc0\xaf");
  put(t, "bad_surrogate", "\xed\xa0\x80 x");
  put(t, "bad_above_10ffff", "\xf4\x90\x80\x80");
  put(t, "bad_truncated_euro", "price: \xe2\x82");
  put(t, "bad_lone_continuation", "\x80\x80 abc");
  put(t, "whitespace_runs", " \t\n\r\v\f\xc2\xa0\xe2\x80\x83   x  \n\n  ");
  put(t, "specials_as_text", "<|endoftext|><|start|><|delim|><|extract|>");
}

void task_corpus() {
  put("task_jsonl", "classification", "{\"text\": \"great food\", \"label\": \"positive\"}\n"
                                      "{\"text\": \"awful\", \"label\": \"negative\"}\n\n");
  put("task_jsonl", "similarity_int_labels", "{\"text_a\": \"car\", \"text_b\": \"auto\", \"label\": 10}\r\n"
                                             "{\"text_a\": \"x\", \"text_b\": \"y\", \"label\": 2}\r\n");
  put("task_jsonl", "entailment", "{\"premise\": \"a dog runs\", \"hypothesis\": \"an animal moves\", \"label\": "
                                  "\"entailment\"}\n");
  put("task_jsonl", "multiple_choice", "{\"context\": \"c\", \"candidates\": [\"a\", \"b\", \"d\"], \"label\": 2}\n"
                                       "{\"context\": \"e\", \"candidates\": [\"f\", \"g\", \"h\"], \"label\": 0}\n");
  put("task_jsonl", "no_labels", "{\"text\": \"unlabelled\"}\n");
  put("task_jsonl", "bad_missing_field", "{\"text\": \"ok\", \"label\": \"p\"}\n{\"label\": \"p\"}\n");
  put("task_jsonl", "bad_label_float", "{\"text\": \"x\", \"label\": 1.5}\n");
  put("task_jsonl", "bad_candidates_differ", "{\"context\": \"c\", \"candidates\": [\"a\", \"b\"], \"label\": 0}\n"
                                             "{\"context\": \"c\", \"candidates\": [\"a\"], \"label\": 0}\n");
  put("task_jsonl", "bad_truncated", "{\"text\": \"x\", \"label\": \"p\"}\n{\"text\": \"x\"");
  put("task_jsonl", "bom_and_big_label", "\xEF\xBB\xBF{\"text\": \"x\", \"label\": 9223372036854775807}\n");

  put("task_tsv", "classification", "great food\tpositive\nawful\tnegative\n");
  put("task_tsv", "entailment_crlf", "a dog runs\tan animal moves\t1\r\nit rains\tit is dry\t0\r\n");
  put("task_tsv", "multiple_choice", "ctx\tone\ttwo\t1\nctx2\tthree\tfour\t0\n");
  put("task_tsv", "mixed_labels", "a\t1\nb\tpositive\nc\t-3\n");
  put("task_tsv", "bad_one_column", "only one column\n");
  put("task_tsv", "glue_sst2", "sentence\tlabel\nhide new secretions from the parental units \t0\n\n"
                               "that loves its characters \t1\n");
  put("task_tsv", "glue_sst2_test", "index\tsentence\n0\tuneasy mishmash of styles and genres .\n");
  put("task_tsv", "glue_rte", "index\tsentence1\tsentence2\tlabel\n0\tDana Reeve has died.\tReeve had an accident."
                              "\tnot_entailment\n1\tAntibiotics are losing.\tBacteria win.\tentailment\n");
  put("task_tsv", "glue_mrpc_bom", "\xEF\xBB\xBFQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
                                   "1\t702876\t702977\tAmrozi accused \" the witness \" .\tReferring to him .\n"
                                   "0\t2108705\t2108831\tYucaipa owned Dominick 's .\tYucaipa bought it .\n");
  std::string stsb = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n";
  put("task_tsv", "glue_stsb", stsb + "0\tmain-captions\tMSRvid\t2012test\t0000\tnone\tnone\tA plane.\tAn air plane."
                                      "\t3.500\n1\tmain-captions\tMSRvid\t2012test\t0001\tnone\tnone\tA.\tB.\t0.499\n");
  put("task_tsv", "bad_glue_stsb_score", stsb + "0\tg\tf\ty\t0\tn\tn\tA.\tB.\t5.2\n");
  put("task_tsv", "bad_glue_row_short", "sentence\tlabel\nno label column here\n");

  std::string header = "InputStoryid,InputSentence1,InputSentence2,InputSentence3,InputSentence4,"
                       "RandomFifthSentenceQuiz1,RandomFifthSentenceQuiz2,AnswerRightEnding\r\n";
  put("task_csv", "rocstories",
      header + "138d5bfb,Rick grew up.,\"He never found support, and turned to gangs.\",Rick got shot.,"
               "He turned a new leaf.,He is happy now.,He joined a gang.,1\r\n"
               "bff9f820,Laverne bakes.,She decides.,\"She asks, \"\"Who?\"\"\",\"\",She stays home.,"
               "\"A hit, \"\"as always\"\".\",2\r\n\r\n"
               "e8f628d5,\"Sarah had been dreaming\nof Europe.\",She saved.,She bought.,She flew.,Stayed.,Loved.,2\n");
  put("task_csv", "rocstories_test_no_answer",
      "InputStoryid,InputSentence1,InputSentence2,InputSentence3,InputSentence4,RandomFifthSentenceQuiz1,"
      "RandomFifthSentenceQuiz2\nid,a,b,c,d,e,f\n");
  put("task_csv", "bad_unclosed_quote", header + "id,\"a,b,c,d,e,f,1\n");
  put("task_csv", "bad_answer_3", header + "id,a,b,c,d,e,f,3\n");
  put("task_csv", "bad_not_rocstories", "a,b,c\n1,2,3\n");
  put("task_csv", "bad_quote_inside", header + "id,a\"b,c,d,e,f,g,1\n");
}

// task.json of a fine-tuned model (gpt/finetuned.h), as save_finetuned writes it; the special
// ids are those of GPT-1's vocabulary grown by the 4 special tokens (fuzz_task_info's 40482).
void task_info_corpus() {
  const std::string t = "task_info";
  const SpecialIds special{40479, 40480, 40481, 40478};
  const Json options = {{"epochs", 3}, {"lr", 6.25e-5}, {"train", "train.tsv"}};
  auto info = [&](TaskKind kind, std::vector<std::string> labels, int64_t candidates) {
    TaskInfo i;
    i.kind = kind;
    i.labels = std::move(labels);
    i.candidates = candidates;
    i.max_len = 128;
    i.head_dropout = 0.1;
    i.special = special;
    for (size_t k = 0; k < i.labels.size(); ++k) i.train_label_counts[i.labels[k]] = int64_t(10 * k + 3);
    if (kind == TaskKind::multiple_choice) i.train_label_counts = {{"0", 7}, {"1", 5}};
    return task_info_to_json(i, options);
  };
  const Json classification = info(TaskKind::classification, {"negative", "positive"}, 0);
  put(t, "classification", classification.dump(2) + "\n");
  put(t, "entailment", info(TaskKind::entailment, {"entailment", "not_entailment"}, 0).dump(2) + "\n");
  put(t, "similarity", info(TaskKind::similarity, {"0", "1", "2", "3", "4", "5"}, 0).dump(2) + "\n");
  put(t, "multiple_choice", info(TaskKind::multiple_choice, {}, 2).dump(2) + "\n");
  Json minimal = classification;  // train_label_counts and options are optional
  minimal.erase("train_label_counts");
  minimal.erase("options");
  put(t, "no_counts_no_options", minimal.dump());
  auto variant = [&](const std::string& name, Json j, const std::string& key, Json value) {
    if (value.is_discarded())
      j.erase(key);
    else
      j[key] = value;
    put(t, name, j.dump());
  };
  const Json mc = info(TaskKind::multiple_choice, {}, 2);
  variant("bad_unknown_key", classification, "label", "x");
  variant("bad_task", classification, "task", "regression");
  variant("bad_task_number", classification, "task", 1);
  variant("bad_labels_repeated", classification, "labels", {"a", "a"});
  variant("bad_labels_empty_string", classification, "labels", {"a", ""});
  Json one_label = classification;  // one label, and counts of it only, so that the count is what is wrong
  one_label["train_label_counts"] = {{"positive", 3}};
  variant("bad_labels_one", one_label, "labels", {"positive"});
  variant("bad_labels_not_strings", classification, "labels", {1, 2});
  variant("bad_labels_missing", classification, "labels", Json(Json::value_t::discarded));
  variant("bad_candidates_with_labels", classification, "candidates", 2);
  variant("bad_mc_one_candidate", mc, "candidates", 1);
  variant("bad_mc_with_labels", mc, "labels", {"0", "1"});
  variant("bad_max_len_float", classification, "max_len", 12.5);
  variant("bad_dropout_1", classification, "head_dropout", 1.0);
  variant("bad_dropout_negative", classification, "head_dropout", -0.1);
  variant("bad_special_not_object", classification, "special", {40479, 40480, 40481, 40478});
  variant("bad_special_past_vocab", classification, "special",
          {{"start", 40482}, {"delim", 40480}, {"extract", 40481}, {"pad", 40478}});
  variant("bad_special_2e32_plus_5", classification, "special",
          {{"start", (int64_t(1) << 32) + 5}, {"delim", 40480}, {"extract", 40481}, {"pad", 40478}});
  variant("bad_special_negative", classification, "special",
          {{"start", 40479}, {"delim", -1}, {"extract", 40481}, {"pad", 40478}});
  variant("bad_special_missing_pad", classification, "special",
          {{"start", 40479}, {"delim", 40480}, {"extract", 40481}});
  variant("bad_counts_unknown_label", classification, "train_label_counts", {{"neutral", 3}});
  variant("bad_counts_negative", classification, "train_label_counts", {{"positive", -3}});
  variant("bad_counts_float", classification, "train_label_counts", {{"positive", 2.5}});
  variant("bad_counts_2e64", classification, "train_label_counts", {{"positive", uint64_t(18446744073709551615u)}});
  put(t, "bad_not_object", "[\"classification\"]");
  put(t, "bad_truncated", classification.dump().substr(0, 40));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: make_corpus OUT_DIR SOURCE_DIR  (writes OUT_DIR/<target>/...)\n";
    return 2;
  }
  root = argv[1];
  fs::path scratch = fs::temp_directory_path() / ("kiso_make_corpus_" + std::to_string(::getpid()));
  fs::create_directories(scratch);
  try {
    safetensors_corpus();
    json_corpus();
    config_corpus();
    shards_corpus(scratch);
    tokenizer_corpus();
    encode_corpus(argv[2]);
    task_corpus();
    task_info_corpus();
  } catch (const std::exception& e) {
    std::cerr << "make_corpus: " << e.what() << "\n";
    fs::remove_all(scratch);
    return 1;
  }
  fs::remove_all(scratch);
  return 0;
}
