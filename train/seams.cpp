// train/seams.cpp — documents and sentences, the seam tokens around them, and the mask that
// keeps their predictions out of the loss (see seams.h).
#include "train/seams.h"

#include "train/pretrain.h"

namespace kiso {

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

static std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// The length of the closing quote or bracket at s[i], or 0: " ' ) ] and the UTF-8 ” (E2 80 9D)
// and ’ (E2 80 99).
static size_t closer_length(std::string_view s, size_t i) {
  char c = s[i];
  if (c == '"' || c == '\'' || c == ')' || c == ']') return 1;
  std::string_view three = s.substr(i, 3);
  if (three == "\xE2\x80\x9D" || three == "\xE2\x80\x99") return 3;           // ” ’
  if (three == "\xE3\x80\x8D" || three == "\xE3\x80\x8F" || three == "\xEF\xBC\x89") return 3;  // 」 』 ）
  return 0;
}

// The length of a full-width end mark at s[i] (。 ！ ？, 3 bytes each), or 0. Japanese and
// Chinese put no space after them, so they end a sentence without one.
static size_t wide_end_length(std::string_view s, size_t i) {
  std::string_view three = s.substr(i, 3);
  return three == "\xE3\x80\x82" || three == "\xEF\xBC\x81" || three == "\xEF\xBC\x9F" ? 3 : 0;
}

// The sentences of one paragraph: cut after [.!?]+ and its closers when whitespace or the end
// follows; each piece trimmed, empty pieces dropped.
static Document split_sentences(std::string_view p) {
  Document out;
  auto keep = [&](std::string_view piece) {
    piece = trim(piece);
    if (!piece.empty()) out.emplace_back(piece);
  };
  size_t begin = 0, i = 0;
  const size_t n = p.size();
  while (i < n) {
    if (wide_end_length(p, i) > 0) {  // 。 ！ ？: the sentence ends after them and their closers
      size_t j = i;
      while (j < n && wide_end_length(p, j) > 0) j += wide_end_length(p, j);
      while (j < n && closer_length(p, j) > 0) j += closer_length(p, j);
      keep(p.substr(begin, j - begin));
      begin = i = j;
      continue;
    }
    if (p[i] != '.' && p[i] != '!' && p[i] != '?') {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < n && (p[j] == '.' || p[j] == '!' || p[j] == '?')) ++j;  // "?!", "..."
    while (j < n && closer_length(p, j) > 0) j += closer_length(p, j);   // ." and .)
    if (j == n || is_space(p[j])) {
      keep(p.substr(begin, j - begin));
      begin = j;
    }
    i = j;
  }
  keep(p.substr(begin));
  return out;
}

std::vector<Document> split_documents(std::string_view text) {
  std::vector<Document> documents;
  std::string paragraph;  // its lines, each with its line break (a break inside a sentence stays)
  auto end_paragraph = [&] {
    Document d = split_sentences(paragraph);
    if (!d.empty()) documents.push_back(std::move(d));
    paragraph.clear();
  };
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    if (trim(line).empty()) end_paragraph();
    else paragraph.append(line).push_back('\n');
    pos = end + 1;
  }
  end_paragraph();
  return documents;
}

SeamIds seam_ids(const Tokenizer& tokenizer) {
  return {tokenizer.special("<|start|>"), tokenizer.special("<|delim|>"), tokenizer.special("<|extract|>")};
}

std::vector<int32_t> encode_with_seams(const Tokenizer& tokenizer, std::string_view text) {
  const SeamIds seam = seam_ids(tokenizer);
  std::vector<int32_t> out;
  for (const Document& document : split_documents(text)) {
    out.push_back(seam.start);
    for (size_t k = 0; k < document.size(); ++k) {
      if (k > 0) out.push_back(seam.delim);
      std::vector<int32_t> ids = tokenizer.encode(document[k]);
      out.insert(out.end(), ids.begin(), ids.end());
    }
    out.push_back(seam.extract);
  }
  return out;
}

Json seams_json(const SeamIds& ids) { return Json{{"start", ids.start}, {"delim", ids.delim}, {"extract", ids.extract}}; }

std::optional<SeamIds> read_seams(const Json& meta, int64_t vocab_size, const std::string& path) {
  if (!has_key(meta, "seams")) return std::nullopt;
  const Json& s = meta.at("seams");
  check(s.is_object(), path.c_str(), "\"seams\" must be an object {{\"start\", \"delim\", \"extract\"}}, found {}",
        s.dump());
  SeamIds ids;
  int32_t* fields[] = {&ids.start, &ids.delim, &ids.extract};
  const char* names[] = {"start", "delim", "extract"};
  for (int k = 0; k < 3; ++k) {
    int64_t id = get_int(s, names[k], path);
    check(id >= 0 && id < vocab_size, path.c_str(), "\"seams\".\"{}\" is {}; expected an id in 0..{} (the vocabulary)",
          names[k], id, vocab_size - 1);
    *fields[k] = int32_t(id);
  }
  return ids;
}

Tensor mask_seam_targets(const Tensor& targets, const SeamIds& ids) {
  std::vector<int32_t> t = targets.to(Device::cpu).to_vector<int32_t>();  // (B·T,)
  for (int32_t& id : t)
    if (ids.contains(id)) id = -100;
  return from_vector(t, targets.shape()).to(targets.device());  // (B, T)
}

double real_token_loss(const GPT& model, const std::vector<Batch>& batches, const Tokenizer& tokenizer) {
  std::vector<Batch> real;
  for (const Batch& b : batches) {
    std::vector<int32_t> t = b.targets.to(Device::cpu).to_vector<int32_t>();  // (B·T,)
    for (int32_t& id : t)
      if (id >= 0 && tokenizer.is_special(id)) id = -100;
    real.push_back({b.inputs, from_vector(t, b.targets.shape()).to(b.targets.device())});
  }
  return evaluate_loss(model, real);
}

}  // namespace kiso
