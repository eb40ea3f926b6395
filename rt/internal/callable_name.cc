#include "rt/internal/callable_name.h"

#include <cxxabi.h>
#include <dlfcn.h>

#include <array>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "absl/debugging/symbolize.h"

namespace keel::internal {

std::string_view intern_name(std::string_view name) {
  static std::mutex mutex;
  static std::set<std::string, std::less<>> names;
  std::lock_guard lock(mutex);
  auto it = names.find(name);
  if (it == names.end()) it = names.emplace(name).first;
  return *it;
}

namespace {

// libstdc++ and Abseil spell the anonymous namespace differently; handler
// names use libstdc++'s spelling whichever found the symbol.
void normalize_anonymous_namespace(std::string& name) {
  static constexpr std::string_view absl_spelling = "(anonymous namespace)";
  for (auto at = name.find(absl_spelling); at != std::string::npos; at = name.find(absl_spelling, at)) {
    name.replace(at, absl_spelling.size(), "{anonymous}");
  }
}

// "ns::on_quote(keel::ResMut<Book>, Quote const&)" -> "ns::on_quote", and
// "void ns::f<int>(int)" -> "ns::f<int>": the parameter list goes, and so
// does a template instance's leading return type.
std::string bare_function_name(std::string name) {
  normalize_anonymous_namespace(name);
  if (const auto paren = name.find('('); paren != std::string::npos) name.resize(paren);
  int depth = 0;
  for (std::size_t i = name.size(); i-- > 0;) {
    if (name[i] == '>') ++depth;
    if (name[i] == '<') --depth;
    if (name[i] == ' ' && depth == 0) {
      name.erase(0, i + 1);
      break;
    }
  }
  return name;
}

// Exact when the function is in a dynamic symbol table (a shared library,
// or a binary linked to export its symbols): the mangled name keeps
// template arguments.
std::string dynamic_symbol_name(const void* function) {
  Dl_info info{};
  if (dladdr(function, &info) == 0 || info.dli_sname == nullptr || info.dli_saddr != function) return {};
  int status = 0;
  std::unique_ptr<char, decltype(&std::free)> demangled(
      abi::__cxa_demangle(info.dli_sname, nullptr, nullptr, &status), &std::free);
  return status == 0 && demangled ? demangled.get() : info.dli_sname;
}

// Any function in the binary's full symbol table (.symtab), internal
// linkage included; nothing once the binary is stripped. Abseil's
// demangler leaves out template arguments ("ns::f<>()").
std::string static_symbol_name(const void* function) {
  std::array<char, 1024> buffer{};
  if (!absl::Symbolize(function, buffer.data(), static_cast<int>(buffer.size()))) return {};
  return buffer.data();
}

}  // namespace

std::string_view function_symbol_name(const void* function) {
  std::string name = dynamic_symbol_name(function);
  if (name.empty()) name = static_symbol_name(function);
  if (name.empty()) return {};
  return intern_name(bare_function_name(std::move(name)));
}

std::string_view site_name(std::string_view what, const std::source_location& site) {
  std::string_view file = site.file_name();
  if (const auto slash = file.rfind('/'); slash != std::string_view::npos) file.remove_prefix(slash + 1);
  std::string name(what);
  name += " at ";
  name += file;
  name += ':';
  name += std::to_string(site.line());
  return intern_name(name);
}

}  // namespace keel::internal
