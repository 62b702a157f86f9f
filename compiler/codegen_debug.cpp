// Debug info of weir_match: a compile unit of its own whose files are the policy sources, with
// their text embedded (DIFile `source`), so the BTF line info the BPF backend writes carries
// each rule's text and the kernel verifier's log can quote it. Every instruction of a rule has
// a location at the rule or at the atom it evaluates; after weir_match is inlined into weir_xdp
// these locations stay, as inlined locations, in the line info of weir_xdp.
#include <llvm/BinaryFormat/Dwarf.h>
#include <llvm/Support/Path.h>

#include "codegen_ctx.hpp"

namespace weir::cg {

Debug::Debug(llvm::Module& m, const SourceManager& sources, FileId main_file)
    : dib_(m), sources_(sources) {
    cu_ = dib_.createCompileUnit(llvm::dwarf::DW_LANG_C11, file(main_file), "weir", /*isOptimized=*/true,
                                 /*Flags=*/"", /*RV=*/0);
}

llvm::DIFile* Debug::file(FileId id) {
    auto it = files_.find(id);
    if (it != files_.end()) return it->second;
    std::string path = id < sources_.size() ? sources_.file(id).path : std::string("<policy>");
    std::string text = id < sources_.size() ? sources_.file(id).text : std::string();
    llvm::StringRef name = llvm::sys::path::filename(path);
    llvm::StringRef dir = llvm::sys::path::parent_path(path);
    // The DIFile keeps a reference to the string it is given: the metadata uniquer copies it.
    llvm::DIFile* f = dib_.createFile(name, dir, std::nullopt, llvm::StringRef(text));
    files_.emplace(id, f);
    return f;
}

void Debug::attach(llvm::Function& fn, std::uint32_t line) {
    llvm::DIFile* f = cu_->getFile();
    auto* u32 = dib_.createBasicType("__u32", 32, llvm::dwarf::DW_ATE_unsigned);
    auto* ptr = dib_.createPointerType(nullptr, 64);
    auto* type = dib_.createSubroutineType(dib_.getOrCreateTypeArray({u32, ptr, ptr, ptr}));
    sp_ = dib_.createFunction(f, fn.getName(), /*LinkageName=*/"", f, line, type, line,
                              llvm::DINode::FlagPrototyped,
                              llvm::DISubprogram::SPFlagDefinition | llvm::DISubprogram::SPFlagLocalToUnit |
                                  llvm::DISubprogram::SPFlagOptimized);
    fn.setSubprogram(sp_);
}

llvm::DebugLoc Debug::at(SourceRange r) {
    if (!r.valid() || r.file >= sources_.size())
        return llvm::DILocation::get(sp_->getContext(), 0, 0, sp_);
    LineCol lc = sources_.line_col(r.file, r.begin);
    llvm::DIFile* f = file(r.file);
    llvm::DIScope* scope = sp_;
    // A location in another file than weir_match's (an included file) needs a scope in it.
    if (f != sp_->getFile()) {
        auto [it, fresh] = scopes_.try_emplace(r.file, nullptr);
        if (fresh) it->second = dib_.createLexicalBlockFile(sp_, f);
        scope = it->second;
    }
    return llvm::DILocation::get(sp_->getContext(), lc.line, lc.col, scope);
}

}  // namespace weir::cg
