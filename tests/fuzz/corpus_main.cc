// Runs a fuzz target's LLVMFuzzerTestOneInput over every file of the
// directories named on the command line, without libFuzzer: the checked-in
// corpus as an ordinary regression test under any compiler, so an input
// that once crashed a target keeps proving it is fixed. An empty (or
// missing) directory fails, so a corpus cannot silently stop being run.
//
//   journal_corpus_test tests/fuzz/corpus/journal
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  // Every path is made absolute before the first input runs, so a target
  // that changes the working directory cannot lose the rest.
  std::vector<fs::path> files;
  for (int i = 1; i < argc; ++i) {
    std::error_code ec;
    const std::size_t before = files.size();
    for (fs::recursive_directory_iterator it(argv[i], ec), end; !ec && it != end; it.increment(ec))
      if (it->is_regular_file()) files.push_back(fs::absolute(it->path()));
    if (ec || files.size() == before) {
      std::fprintf(stderr, "%s: no inputs%s%s\n", argv[i], ec ? ": " : "", ec ? ec.message().c_str() : "");
      return 1;
    }
    std::sort(files.begin() + static_cast<std::ptrdiff_t>(before), files.end());
  }
  if (files.empty()) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR...\n", argv[0]);
    return 1;
  }
  for (const fs::path& file : files) {
    std::ifstream in(file, std::ios::binary);
    const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    if (!in.eof() && !in) {
      std::fprintf(stderr, "%s: cannot be read\n", file.c_str());
      return 1;
    }
    // Printed before the run, so the input that crashes is the last one named.
    std::fprintf(stderr, "%s (%zu bytes)\n", file.c_str(), bytes.size());
    LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  }
  std::printf("%zu inputs passed\n", files.size());
  return 0;
}
