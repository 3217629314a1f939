#include "homelens/core/log.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <ctime>
#include <mutex>

namespace homelens::log {

namespace {

// The fields of the event being logged on this thread. spdlog has no slot for structured
// data, and its default (synchronous) logger formats on the calling thread, so the
// formatter can read them here; plain spdlog calls leave it null.
thread_local const nlohmann::json* t_fields = nullptr;

std::string iso_time(spdlog::log_clock::time_point tp) {
  const auto secs = std::chrono::time_point_cast<std::chrono::seconds>(tp);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(tp - secs).count();
  const std::time_t t = spdlog::log_clock::to_time_t(tp);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

std::string level_text(spdlog::level::level_enum l) {
  const auto sv = spdlog::level::to_string_view(l);
  return std::string(sv.data(), sv.size());
}

class Formatter final : public spdlog::formatter {
 public:
  explicit Formatter(Format f) : format_(f) {}
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const std::string message(msg.payload.data(), msg.payload.size());
    std::string line;
    if (format_ == Format::kJson) {
      nlohmann::json j = {{"time", iso_time(msg.time)}, {"level", level_text(msg.level)},
                          {"message", message}};
      if (t_fields)
        for (const auto& [k, v] : t_fields->items())
          if (!j.contains(k)) j[k] = v;  // the three keys above always mean what they say
      // Bytes that are not UTF-8 (a file name) must not make the line unparseable.
      line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    } else {
      line = iso_time(msg.time) + " " + level_text(msg.level) + " " + message;
      if (t_fields)
        for (const auto& [k, v] : t_fields->items())
          line += " " + k + "=" +
                  (v.is_string() ? v.get<std::string>()
                                 : v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    }
    line += '\n';
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<Formatter>(format_); }

 private:
  Format format_;
};

std::once_flag g_default_once;

void install(Format format, spdlog::level::level_enum level) {
  auto logger = std::make_shared<spdlog::logger>("homelens",
                                                 std::make_shared<spdlog::sinks::stderr_sink_mt>());
  logger->set_formatter(std::make_unique<Formatter>(format));
  logger->set_level(level);
  logger->flush_on(spdlog::level::trace);  // lines interleave with other stderr output
  spdlog::set_default_logger(std::move(logger));
}

}  // namespace

void configure_logging(Format format, spdlog::level::level_enum level) {
  std::call_once(g_default_once, [] {});  // a later log() must not reinstall the default
  install(format, level);
}

Status configure_logging(const std::string& format, const std::string& level) {
  Format f;
  if (format == "text") f = Format::kText;
  else if (format == "json") f = Format::kJson;
  else return make_error("--log-format " + format, "unknown format (text or json)", ErrorCode::kInvalidArgument);
  const auto l = spdlog::level::from_str(level);
  // from_str answers "off" for anything it does not know.
  if (l == spdlog::level::off && level != "off")
    return make_error("--log-level " + level,
                      "unknown level (trace, debug, info, warning, error, critical or off)",
                      ErrorCode::kInvalidArgument);
  configure_logging(f, l);
  return {};
}

void log(spdlog::level::level_enum level, const std::string& message, const nlohmann::json& fields) {
  std::call_once(g_default_once, [] { install(Format::kText, spdlog::level::info); });
  t_fields = fields.is_object() && !fields.empty() ? &fields : nullptr;
  spdlog::default_logger_raw()->log(level, "{}", message);
  t_fields = nullptr;
}

}  // namespace homelens::log
