// OutOfLine<T>: a part of a tree node that few nodes have, held out of line so that the common
// node stays small (a 100,000-rule policy's syntax tree was ~720 bytes per comparison, mostly
// parts of the rarer kinds). Value semantics: copies copy the part. Reading an absent part gives
// an empty one; writing through a non-const access creates it.
#pragma once
#include <memory>

namespace weir {

template <typename T>
class OutOfLine {
public:
    OutOfLine() = default;
    OutOfLine(const OutOfLine& o) : p_(o.p_ ? std::make_unique<T>(*o.p_) : nullptr) {}
    OutOfLine(OutOfLine&&) noexcept = default;
    OutOfLine& operator=(const OutOfLine& o) {
        if (this != &o) p_ = o.p_ ? std::make_unique<T>(*o.p_) : nullptr;
        return *this;
    }
    OutOfLine& operator=(OutOfLine&&) noexcept = default;
    OutOfLine& operator=(T v) {
        p_ = std::make_unique<T>(std::move(v));
        return *this;
    }
    const T& operator*() const { return p_ ? *p_ : empty(); }
    const T* operator->() const { return &**this; }
    T& operator*() {
        if (!p_) p_ = std::make_unique<T>();
        return *p_;
    }
    T* operator->() { return &**this; }

private:
    static const T& empty() {
        static const T e{};
        return e;
    }
    std::unique_ptr<T> p_;
};

}  // namespace weir
