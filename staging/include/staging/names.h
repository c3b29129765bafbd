// Names are bytes. A member name, link target or source file name may hold any byte but NUL, in
// no particular encoding (Latin-1, KOI8-R, EUC-JP and CP866 names are common in real archives),
// and is created on disk exactly as it is. These turn such bytes into text where text is needed.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace staging {

// For people and JSON: valid UTF-8 is kept; each byte of an invalid sequence, and each control
// character (so a message stays one line and cannot drive a terminal), becomes "\xNN". Always
// valid UTF-8. Not reversible: for display only.
std::string DisplayText(std::string_view bytes);

// The manifest's lossless form: valid UTF-8 is kept, except '%', which becomes "%25"; each byte
// of an invalid sequence becomes "%XX" (upper-case hex). Always valid UTF-8.
std::string EncodeName(std::string_view bytes);
// True when EncodeName(bytes) is `bytes` itself (ASCII without '%': most names), so that a caller
// may use the bytes as they are, without a copy.
bool EncodesAsItself(std::string_view bytes);

// The bytes EncodeName was given; nullopt when `text` holds a '%' not followed by two hex digits.
std::optional<std::string> DecodeName(std::string_view text);

}  // namespace staging
