// libFuzzer target: stop strings (engine/stop_strings.h) over text streamed in arbitrary pieces.
// Checks, besides "no crash, no sanitizer report", the streaming rule: generation stops with the
// first piece after which a stop string has appeared, and what is released (plus the final flush
// when none appears) is exactly the text before the earliest stop string in the text so far.
// (A longer stop string that began earlier but would only complete later does not count: the
// stream has already stopped.) tools/run_fuzzers.sh builds and runs it.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/stop_strings.h"
#include "tests/fuzz/check.h"

using ssm::fuzz::Check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  std::vector<std::string> stops;
  for (int n = in.ConsumeIntegralInRange<int>(1, 4); n > 0; --n) {
    std::string stop = in.ConsumeRandomLengthString(6);
    if (!stop.empty()) stops.push_back(stop);  // the server refuses empty stop strings
  }
  if (stops.empty()) return 0;
  std::vector<std::string> pieces;
  for (int n = in.ConsumeIntegralInRange<int>(0, 16); n > 0; --n) {
    pieces.push_back(in.ConsumeRandomLengthString(8));
  }
  // The expected result: the text so far after the first piece that completes a stop string,
  // cut before the earliest stop string in it; or all the text.
  std::string text;
  size_t first = std::string::npos;
  for (const std::string& piece : pieces) {
    text += piece;
    for (const std::string& stop : stops) first = std::min(first, text.find(stop));
    if (first != std::string::npos) break;
  }

  ssm::StopStrings watcher(stops);
  std::string released;
  bool stopped = false;
  for (const std::string& piece : pieces) {
    const ssm::StopStrings::Release r = watcher.Add(piece);
    Check(!stopped || r.text.empty());  // nothing after a stop
    released += r.text;
    stopped |= r.stopped;
  }
  if (!stopped) released += watcher.Flush();
  Check(stopped == (first != std::string::npos));
  Check(released == (stopped ? text.substr(0, first) : text));
  return 0;
}
