#ifndef SSM_ENGINE_STOP_STRINGS_H_
#define SSM_ENGINE_STOP_STRINGS_H_

#include <string>
#include <string_view>
#include <vector>

namespace ssm {

// Watches streamed text for stop strings, also when one is split across tokens. Text that could
// still turn out to begin a stop string is held back; the rest is released. When a stop string
// appears, the text before it is released and the stop string itself never is.
class StopStrings {
 public:
  explicit StopStrings(std::vector<std::string> stops) : stops_(std::move(stops)) {}

  struct Release {
    std::string text;      // safe to emit now
    bool stopped = false;  // a stop string was found; nothing more will be released
  };
  Release Add(std::string_view delta);
  // At the end of generation: whatever is still held back.
  std::string Flush();

 private:
  std::vector<std::string> stops_;
  std::string held_;
  bool stopped_ = false;
};

}  // namespace ssm

#endif  // SSM_ENGINE_STOP_STRINGS_H_
