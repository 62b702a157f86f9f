// What the API's source files (api.cpp, api_stages.cpp) share: the inside of a Policy and the
// conversion of internal diagnostics into the public ones.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "diagnostics.hpp"
#include "driver.hpp"
#include "source.hpp"
#include "weir/weir.hpp"

namespace weir::api {

struct Policy::Impl {
    std::string name;
    bool from_string = false;
    std::shared_ptr<const Compilation> compilation;  // what attach() loads: nothing is read again
    std::vector<Diagnostic> diags;
};

Location location(const SourceManager& sm, SourceRange r);
void convert(const SourceManager& sm, const Diagnostics& ds, std::vector<Diagnostic>& out);

}  // namespace weir::api
