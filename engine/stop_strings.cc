#include "engine/stop_strings.h"

#include <algorithm>

namespace ssm {

StopStrings::Release StopStrings::Add(std::string_view delta) {
  Release release;
  if (stopped_) return release;
  held_.append(delta);
  // The earliest stop string wins.
  size_t first = std::string::npos;
  for (const std::string& stop : stops_) first = std::min(first, held_.find(stop));
  if (first != std::string::npos) {
    release.text = held_.substr(0, first);
    release.stopped = stopped_ = true;
    held_.clear();
    return release;
  }
  // Keep the longest tail of held_ that is a proper prefix of some stop string.
  size_t keep = 0;
  for (const std::string& stop : stops_) {
    for (size_t n = std::min(stop.size() - 1, held_.size()); n > keep; --n) {
      if (held_.compare(held_.size() - n, n, stop, 0, n) == 0) {
        keep = n;
        break;
      }
    }
  }
  release.text = held_.substr(0, held_.size() - keep);
  held_.erase(0, held_.size() - keep);
  return release;
}

std::string StopStrings::Flush() {
  std::string rest;
  rest.swap(held_);
  return stopped_ ? std::string() : rest;
}

}  // namespace ssm
