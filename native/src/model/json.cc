#include "model/json.h"

#include <cmath>
#include <cstdlib>

namespace hs {

const Json* Json::get(const std::string& key) const {
  if (type != Type::Object) return nullptr;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (keys[i] == key) return &items[i];
  }
  return nullptr;
}

namespace {

constexpr int kMaxDepth = 64;

class Parser {
 public:
  Parser(const char* p, size_t n, const std::string& where) : p_(p), n_(n), where_(where) {}

  Result<Json> run() {
    Json v;
    if (!value(&v, 0)) return err();
    skip_ws();
    if (pos_ != n_) {
      fail("trailing characters");
      return err();
    }
    return v;
  }

 private:
  // Invariant: every read of p_[i] is guarded by i < n_.
  const char* p_;
  size_t n_;
  size_t pos_ = 0;
  std::string where_;
  std::string msg_;

  Error err() const { return make_err(Code::BAD_FORMAT, "invalid JSON: " + msg_, where_); }
  bool fail(const std::string& m) {
    if (msg_.empty()) msg_ = m + " at byte " + std::to_string(pos_);
    return false;
  }
  void skip_ws() {
    while (pos_ < n_ && (p_[pos_] == ' ' || p_[pos_] == '\t' || p_[pos_] == '\n' || p_[pos_] == '\r')) ++pos_;
  }
  bool literal(const char* word) {
    size_t k = 0;
    for (; word[k] != '\0'; ++k) {
      if (pos_ + k >= n_ || p_[pos_ + k] != word[k]) return fail("bad literal");
    }
    pos_ += k;
    return true;
  }

  bool value(Json* out, int depth) {
    if (depth > kMaxDepth) return fail("nesting too deep");
    skip_ws();
    if (pos_ >= n_) return fail("unexpected end");
    char c = p_[pos_];
    if (c == '{') return object(out, depth);
    if (c == '[') return array(out, depth);
    if (c == '"') {
      out->type = Json::Type::String;
      return string(&out->str);
    }
    if (c == 't') {
      out->type = Json::Type::Bool;
      out->boolean = true;
      return literal("true");
    }
    if (c == 'f') {
      out->type = Json::Type::Bool;
      return literal("false");
    }
    if (c == 'n') {
      out->type = Json::Type::Null;
      return literal("null");
    }
    if (c == 'N') {  // Python's json writes NaN; accept it as a number.
      out->type = Json::Type::Number;
      out->number = std::nan("");
      return literal("NaN");
    }
    if (c == 'I') {
      out->type = Json::Type::Number;
      out->number = HUGE_VAL;
      return literal("Infinity");
    }
    return number(out);
  }

  bool number(Json* out) {
    size_t start = pos_;
    if (pos_ < n_ && (p_[pos_] == '-' || p_[pos_] == '+')) ++pos_;
    bool digits = false;
    while (pos_ < n_) {
      char c = p_[pos_];
      if ((c >= '0' && c <= '9')) {
        digits = true;
      } else if (c != '.' && c != 'e' && c != 'E' && c != '-' && c != '+') {
        break;
      }
      ++pos_;
    }
    if (!digits) return fail("bad number");
    std::string tok(p_ + start, pos_ - start);
    char* end = nullptr;
    double d = std::strtod(tok.c_str(), &end);
    if (end == nullptr || *end != '\0') return fail("bad number");
    out->type = Json::Type::Number;
    out->number = d;
    return true;
  }

  static void put_utf8(std::string* s, uint32_t cp) {
    if (cp < 0x80) {
      s->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      s->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      s->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      s->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      s->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      s->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      s->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      s->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      s->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      s->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  bool hex4(uint32_t* out) {
    if (n_ - pos_ < 4) return fail("short \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      char c = p_[pos_++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= static_cast<uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f') v |= static_cast<uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= static_cast<uint32_t>(c - 'A' + 10);
      else return fail("bad \\u escape");
    }
    *out = v;
    return true;
  }

  bool string(std::string* s) {
    ++pos_;  // opening quote, checked by the caller
    while (true) {
      if (pos_ >= n_) return fail("unterminated string");
      char c = p_[pos_++];
      if (c == '"') return true;
      if (c != '\\') {
        s->push_back(c);
        continue;
      }
      if (pos_ >= n_) return fail("unterminated escape");
      char e = p_[pos_++];
      switch (e) {
        case '"': s->push_back('"'); break;
        case '\\': s->push_back('\\'); break;
        case '/': s->push_back('/'); break;
        case 'b': s->push_back('\b'); break;
        case 'f': s->push_back('\f'); break;
        case 'n': s->push_back('\n'); break;
        case 'r': s->push_back('\r'); break;
        case 't': s->push_back('\t'); break;
        case 'u': {
          uint32_t cp = 0;
          if (!hex4(&cp)) return false;
          if (cp >= 0xD800 && cp < 0xDC00 && n_ - pos_ >= 6 && p_[pos_] == '\\' && p_[pos_ + 1] == 'u') {
            pos_ += 2;
            uint32_t lo = 0;
            if (!hex4(&lo)) return false;
            if (lo >= 0xDC00 && lo < 0xE000) cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          put_utf8(s, cp);
          break;
        }
        default:
          return fail("bad escape");
      }
    }
  }

  bool array(Json* out, int depth) {
    out->type = Json::Type::Array;
    ++pos_;
    skip_ws();
    if (pos_ < n_ && p_[pos_] == ']') {
      ++pos_;
      return true;
    }
    while (true) {
      out->items.emplace_back();
      if (!value(&out->items.back(), depth + 1)) return false;
      skip_ws();
      if (pos_ >= n_) return fail("unterminated array");
      char c = p_[pos_++];
      if (c == ']') return true;
      if (c != ',') return fail("expected ',' or ']'");
    }
  }

  bool object(Json* out, int depth) {
    out->type = Json::Type::Object;
    ++pos_;
    skip_ws();
    if (pos_ < n_ && p_[pos_] == '}') {
      ++pos_;
      return true;
    }
    while (true) {
      skip_ws();
      if (pos_ >= n_ || p_[pos_] != '"') return fail("expected a key");
      out->keys.emplace_back();
      if (!string(&out->keys.back())) return false;
      skip_ws();
      if (pos_ >= n_ || p_[pos_] != ':') return fail("expected ':'");
      ++pos_;
      out->items.emplace_back();
      if (!value(&out->items.back(), depth + 1)) return false;
      skip_ws();
      if (pos_ >= n_) return fail("unterminated object");
      char c = p_[pos_++];
      if (c == '}') return true;
      if (c != ',') return fail("expected ',' or '}'");
    }
  }
};

}  // namespace

Result<Json> parse_json(const char* text, size_t length, const std::string& where) {
  return Parser(text, length, where).run();
}

bool json_has(const Json& obj, const std::string& key) {
  const Json* v = obj.get(key);
  return v != nullptr && !v->is_null();
}

Result<double> json_number(const Json& obj, const std::string& key, double fallback,
                           const std::string& where) {
  const Json* v = obj.get(key);
  if (v == nullptr || v->is_null()) return fallback;
  if (!v->is_number()) return make_err(Code::BAD_FORMAT, "'" + key + "' is not a number", where);
  return v->number;
}

Result<int64_t> json_int(const Json& obj, const std::string& key, int64_t fallback,
                         const std::string& where) {
  const Json* v = obj.get(key);
  if (v == nullptr || v->is_null()) return fallback;
  if (!v->is_number() || !(std::fabs(v->number) < 9.0e15) || std::floor(v->number) != v->number) {
    return make_err(Code::BAD_FORMAT, "'" + key + "' is not an integer", where);
  }
  return static_cast<int64_t>(v->number);
}

}  // namespace hs
