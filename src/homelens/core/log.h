// Process-wide logging through spdlog on stderr: human text or JSON lines (time, level,
// message and the event's fields), configured once from --log-format/--log-level. Anything
// logged through spdlog's default logger (spdlog::info(...)) takes the same format.
// Thread-safety: log() may be called from any thread; configure_logging() once, early
// (before other threads log).
#pragma once

#include <string>

#include <nlohmann/json.hpp>
#include <spdlog/common.h>

#include "homelens/core/result.h"

namespace homelens::log {

enum class Format { kText, kJson };

// Sets the format and minimum level of the default logger (on stderr). Until it is called,
// text at level info is used. Errors name an unknown format or level.
Status configure_logging(const std::string& format, const std::string& level);
void configure_logging(Format format, spdlog::level::level_enum level);

// Logs message with structured fields (a JSON object, may be empty): in JSON they are members
// of the line's object, in text they follow the message as key=value.
void log(spdlog::level::level_enum level, const std::string& message,
         const nlohmann::json& fields = nlohmann::json::object());
inline void info(const std::string& m, const nlohmann::json& f = nlohmann::json::object()) {
  log(spdlog::level::info, m, f);
}
inline void warn(const std::string& m, const nlohmann::json& f = nlohmann::json::object()) {
  log(spdlog::level::warn, m, f);
}
inline void error(const std::string& m, const nlohmann::json& f = nlohmann::json::object()) {
  log(spdlog::level::err, m, f);
}

}  // namespace homelens::log
