// JSON from files, parsed strictly and reported by our own messages.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace sk {

// `text` as JSON; a key given twice in one object is refused (nlohmann would
// keep the last silently). Throws sk::Error "WHERE: invalid JSON at line L,
// column C: ...", "WHERE: invalid JSON (number overflow parsing ...)" or
// "WHERE: key "K" appears twice".
nlohmann::json parse_json_strictly(const std::string& text, const std::string& where);

}  // namespace sk
