#include "rt/internal/callable_name.h"

#include <cxxabi.h>
#include <dlfcn.h>

#include <cstdlib>
#include <memory>
#include <mutex>
#include <set>
#include <string>

namespace keel::internal {

std::string_view intern_name(std::string_view name) {
  static std::mutex mutex;
  static std::set<std::string, std::less<>> names;
  std::lock_guard lock(mutex);
  auto it = names.find(name);
  if (it == names.end()) it = names.emplace(name).first;
  return *it;
}

std::string_view function_symbol_name(const void* function) {
  Dl_info info{};
  if (dladdr(function, &info) == 0 || info.dli_sname == nullptr || info.dli_saddr != function) return {};
  int status = 0;
  std::unique_ptr<char, decltype(&std::free)> demangled(
      abi::__cxa_demangle(info.dli_sname, nullptr, nullptr, &status), &std::free);
  std::string name = status == 0 && demangled ? demangled.get() : info.dli_sname;
  // "ns::on_quote(keel::ResMut<Book>, Quote const&)" -> "ns::on_quote"
  if (const auto paren = name.find('('); paren != std::string::npos) name.resize(paren);
  // Function template instances demangle with their return type first
  // ("void ns::f<int>"); keep the name after the last space outside <>.
  int depth = 0;
  for (std::size_t i = name.size(); i-- > 0;) {
    if (name[i] == '>') ++depth;
    if (name[i] == '<') --depth;
    if (name[i] == ' ' && depth == 0) {
      name.erase(0, i + 1);
      break;
    }
  }
  return intern_name(name);
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
