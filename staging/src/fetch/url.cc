#include "fetch/url.h"

#include <curl/curl.h>

#include <memory>

namespace staging {
namespace {

using CurlUrl = std::unique_ptr<CURLU, decltype(&curl_url_cleanup)>;

// A part of a parsed URL, or "" when it has none.
std::string Part(CURLU* u, CURLUPart part, unsigned flags = 0) {
  char* value = nullptr;
  if (curl_url_get(u, part, &value, flags) != CURLUE_OK || !value) return "";
  std::string result(value);
  curl_free(value);
  return result;
}

bool HasScheme(const std::string& text) {
  size_t colon = text.find("://");
  return colon != std::string::npos && text.find('/') > colon;
}

// Without parsing: everything between "://" and '@' of the authority, and after '?'.
std::string RedactUnparsed(const std::string& text) {
  std::string out = text.substr(0, text.find_first_of("?#"));
  if (size_t query = text.find('?'); query != std::string::npos && query < text.find('#'))
    out += "?***";
  size_t start = out.find("://");
  if (start == std::string::npos) return out;
  start += 3;
  size_t end = out.find('/', start);
  size_t at = out.rfind('@', end == std::string::npos ? out.size() : end);
  if (at != std::string::npos && at >= start) out.replace(start, at - start, "***");
  return out;
}

std::string LastComponent(const std::string& path) {
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

Status CheckName(const FetchUrl& url) {
  const std::string& n = url.name;
  if (n.empty() || n == "." || n == ".." || n.find('/') != std::string::npos ||
      n.find('\0') != std::string::npos) {
    return Status::Error(url.redacted +
                         ": the URL names no file to store (its path must end in "
                         "a file name)");
  }
  return Status::Ok();
}

Status ParseRemote(const std::string& text, FetchUrl* out) {
  CurlUrl u(curl_url(), curl_url_cleanup);
  out->redacted = RedactUnparsed(text);
  if (!u || curl_url_set(u.get(), CURLUPART_URL, text.c_str(), 0) != CURLUE_OK) {
    return Status::Error(out->redacted + ": not a valid URL");
  }
  std::string scheme = Part(u.get(), CURLUPART_SCHEME);
  std::string user = Part(u.get(), CURLUPART_USER), password = Part(u.get(), CURLUPART_PASSWORD);
  std::string query = Part(u.get(), CURLUPART_QUERY);
  for (const std::string& secret : {user, password, query}) {
    if (!secret.empty()) out->secrets.push_back(secret);
  }
  std::string port = Part(u.get(), CURLUPART_PORT);
  std::string path = Part(u.get(), CURLUPART_PATH);
  out->redacted = scheme + "://" + (user.empty() && password.empty() ? "" : "***@") +
                  Part(u.get(), CURLUPART_HOST) + (port.empty() ? "" : ":" + port) + path +
                  (query.empty() ? "" : "?***");
  std::string decoded_path = Part(u.get(), CURLUPART_PATH, CURLU_URLDECODE);
  if (scheme == "file") {
    out->local = true;
    out->local_path = decoded_path;
  } else if (scheme != "http" && scheme != "https") {
    return Status::Error(out->redacted + ": unsupported scheme (http, https or file)");
  }
  out->name = LastComponent(decoded_path);
  return CheckName(*out);
}

}  // namespace

Status ParseFetchUrl(const std::string& text, FetchUrl* out) {
  *out = FetchUrl();
  out->url = text;
  if (HasScheme(text)) return ParseRemote(text, out);
  out->redacted = text;
  out->local = true;
  out->local_path = text;
  out->name = LastComponent(text);
  return CheckName(*out);
}

std::string RedactUrl(const std::string& url) {
  FetchUrl parsed;
  if (!HasScheme(url)) return url;
  ParseFetchUrl(url, &parsed);  // the redacted form is set even when the rest fails
  return parsed.redacted;
}

std::string ScrubSecrets(std::string text, const FetchUrl& url) {
  for (const std::string& secret : url.secrets) {
    for (size_t at = text.find(secret); at != std::string::npos; at = text.find(secret, at + 3)) {
      text.replace(at, secret.size(), "***");
    }
  }
  return text;
}

}  // namespace staging
