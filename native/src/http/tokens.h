// Character classes and list helpers of HTTP/1.1 syntax (RFC 7230 sections 3.2 and 7).
#pragma once

#include <string_view>

namespace ringcast::http {

// tchar of RFC 7230 section 3.2.6: the characters of a token (method, field name, ...).
bool is_tchar(unsigned char c);

// field-vchar / obs-text / SP / HTAB of RFC 7230 section 3.2: what a field value may hold.
bool is_field_value_char(unsigned char c);

// ASCII case-insensitive equality (field names and many values are case-insensitive,
// RFC 7230 section 3.2).
bool iequals(std::string_view a, std::string_view b);

// Trims optional whitespace (OWS = SP / HTAB, RFC 7230 section 3.2.3) on both sides.
std::string_view trim_ows(std::string_view s);

// Whether a comma-separated list (#rule, RFC 7230 section 7) holds token, compared
// case-insensitively; empty elements are skipped as the #rule allows.
bool list_has_token(std::string_view list, std::string_view token);

}  // namespace ringcast::http
