"""Expressions (``ExpressionsMixin``): names, attributes, calls, subscripts, operators, comparisons,
literals, f-strings, comprehensions, lambdas and ``:=``, dispatched by LibCST node type.
"""
from __future__ import annotations

import operator

import libcst as cst

from analyzer.evaluate.core import (
    _MISSING,
    PLAIN,
    BudgetExceeded,
    EvalRaise,
    Frame,
    is_plain,
)
from analyzer.evaluate.items import get_item
from analyzer.evaluate.operators import binop, compare, to_str, truth
from analyzer.evaluate.sizes import _BIG_NUMBER, _charge_sizes
from analyzer.evaluate.values import (
    FunctionValue,
    Instance,
    SuperValue,
    Tensor,
    Unknown,
    type_name,
)


_STRING_VALUES: dict = {}  # a string literal's source text -> its value (str or bytes)


class ExpressionsMixin:

    # ------------------------------------------------------------------ expressions
    def eval(self, node, frame: Frame):
        t = type(node)
        if t is cst.Name:  # most evaluated nodes: a local variable, found without a dispatch
            name = node.value
            f = frame
            while f is not None:
                loc = f.locals
                if name in loc:
                    return loc[name]
                f = f.parent
            return self.e_name(node, frame)
        handler = self._expr.get(t)
        if handler is None:
            raise EvalRaise("W104", f"expression {type(node).__name__} is not followed", self.span(node, frame))
        return handler(self, node, frame)

    def lookup(self, name: str, frame: Frame, node):
        f = frame
        while f is not None:
            loc = f.locals
            if name in loc:
                return loc[name]
            f = f.parent
        if frame.file is not None:
            value = self.global_get(frame.file, name, None, missing_ok=True)
            if value is not _MISSING:
                return value
        if name in self.builtins:
            return self.builtins[name]
        raise EvalRaise("W102", f"name '{name}' is not defined", self.span(node, frame), "NameError")

    def e_name(self, node, frame):
        v = node.value
        if v == "True":
            return True
        if v == "False":
            return False
        if v == "None":
            return None
        return self.lookup(v, frame, node)

    def e_attribute(self, node, frame):
        obj = self.eval(node.value, frame)
        span = self.span(node, frame) if not isinstance(obj, PLAIN) else None
        return self._get_attribute(self, obj, node.attr.value, span)

    def e_call(self, node, frame):
        fn = self.eval(node.func, frame)
        if fn is self._super and not node.args:
            return self.zero_arg_super(node, frame)
        args: list = []
        kwargs: dict = {}
        for a in node.args:
            value = self.eval(a.value, frame)
            if a.star == "*":
                args.extend(self.iterate(value, self.span(a, frame)))
            elif a.star == "**":
                if isinstance(value, Instance) and value.storage is not None:
                    value = value.storage
                if not isinstance(value, dict):
                    raise EvalRaise("W105", "cannot expand ** of an unknown mapping", self.span(a, frame))
                kwargs.update(value)
            elif a.keyword is not None:
                kwargs[a.keyword.value] = value
            else:
                args.append(value)
        return self.call(fn, args, kwargs, self.span(node, frame))

    def zero_arg_super(self, node, frame):
        f = frame
        while f is not None and (f.func is None or f.func.owner is None):
            f = f.parent
        if f is None:
            raise EvalRaise("W104", "super() without arguments outside a method", self.span(node, frame))
        params = f.func.node.params
        first = (list(params.posonly_params) + list(params.params))[:1]
        if not first or first[0].name.value not in f.locals:
            raise EvalRaise("W104", "super() in a method without a self argument", self.span(node, frame))
        return SuperValue(f.func.owner, f.locals[first[0].name.value])

    def eval_slice(self, elements, frame):
        keys = []
        for el in elements:
            s = el.slice
            if isinstance(s, cst.Index):
                keys.append(self.eval(s.value, frame))
            else:
                keys.append(slice(
                    self.eval(s.lower, frame) if s.lower is not None else None,
                    self.eval(s.upper, frame) if s.upper is not None else None,
                    self.eval(s.step, frame) if s.step is not None else None,
                ))
        return keys[0] if len(keys) == 1 else tuple(keys)

    def e_subscript(self, node, frame):
        obj = self.eval(node.value, frame)
        key = self.eval_slice(node.slice, frame)
        return get_item(self, obj, key, self.span(node, frame))

    def binop(self, op_type, left, right, span, inplace=False):
        return binop(self, op_type, left, right, span, inplace)

    def e_binop(self, node, frame):
        left = self.eval(node.left, frame)
        right = self.eval(node.right, frame)
        return self.binop(type(node.operator), left, right, self.span(node, frame))

    def e_unary(self, node, frame):
        v = self.eval(node.expression, frame)
        op = type(node.operator)
        if op is cst.Not:
            if isinstance(v, Unknown):
                return v
            return not self.truth(v, self.span(node, frame))
        if isinstance(v, Unknown):
            return v
        if isinstance(v, Tensor):
            return Tensor(v.shape, v.dtype)
        try:
            return {cst.Minus: operator.neg, cst.Plus: operator.pos, cst.BitInvert: operator.invert}[op](v)
        except TypeError:
            raise EvalRaise("W104", f"bad operand type for unary operator: '{type_name(v)}'", self.span(node, frame), "TypeError") from None

    def e_boolop(self, node, frame):
        left = self.eval(node.left, frame)
        if isinstance(left, Unknown):
            return left
        truth = self.truth(left, self.span(node, frame))
        if isinstance(node.operator, cst.And):
            return self.eval(node.right, frame) if truth else left
        return left if truth else self.eval(node.right, frame)

    def e_compare(self, node, frame):
        left = self.eval(node.left, frame)
        for comp in node.comparisons:
            right = self.eval(comp.comparator, frame)
            result = compare(self, type(comp.operator), left, right, self.span(node, frame))
            if len(node.comparisons) == 1 or isinstance(result, Unknown):
                return result  # a single comparison is its result (a tensor stays a tensor)
            if not self.truth(result, self.span(node, frame)):
                return result
            left = right
        return result

    def e_ifexp(self, node, frame):
        test = self.eval(node.test, frame)
        if isinstance(test, Unknown):
            raise EvalRaise("W105", f"cannot decide this condition: {test.reason}", self.span(node.test, frame))
        return self.eval(node.body if self.truth(test, self.span(node, frame)) else node.orelse, frame)

    def truth(self, v, span) -> bool:
        return truth(self, v, span)

    def e_integer(self, node, frame):
        text = node.value.replace("_", "")
        try:
            return int(text, 0) if not text.startswith("0") or text == "0" or text[1:2] in "xXoObB" else int(text)
        except ValueError as exc:  # e.g. more digits than int() converts (4,300)
            raise EvalRaise("W104", f"integer literal not evaluated: {exc}", self.span(node, frame), "ValueError") from None

    def e_float(self, node, frame):
        return float(node.value.replace("_", ""))

    def e_imaginary(self, node, frame):
        return complex(node.value.replace("_", ""))

    def e_string(self, node, frame):
        raw = node.value
        hit = _STRING_VALUES.get(raw)
        if hit is not None:
            return hit
        try:
            value = node.evaluated_value  # ast.literal_eval of the literal's text: memoized by that text
            if len(_STRING_VALUES) < 100_000:
                _STRING_VALUES[raw] = value
            return value
        except (ValueError, SyntaxError, MemoryError, RecursionError) as exc:
            raise EvalRaise("W104", f"string literal not evaluated: {type(exc).__name__}", self.span(node, frame)) from None

    def e_concat(self, node, frame):
        left = self.eval(node.left, frame)
        right = self.eval(node.right, frame)
        if isinstance(left, Unknown):
            return left
        if isinstance(right, Unknown):
            return right
        return left + right

    def e_fstring(self, node, frame):
        out = []
        for part in node.parts:
            if isinstance(part, cst.FormattedStringText):
                out.append(part.value)
                continue
            v = self.eval(part.expression, frame)
            if isinstance(v, Unknown):
                return Unknown(v.reason, v.span)
            spec = ""
            if part.format_spec:
                spec_parts = []
                for sp in part.format_spec:
                    if isinstance(sp, cst.FormattedStringText):
                        spec_parts.append(sp.value)
                    else:
                        sv = self.eval(sp.expression, frame)
                        if isinstance(sv, Unknown):
                            return Unknown(sv.reason, sv.span)
                        spec_parts.append(str(sv))
                spec = "".join(spec_parts)
            if not is_plain(v):
                v = to_str(self, v)
            if _BIG_NUMBER.search(spec):
                return Unknown("a format with a huge width or precision is not evaluated", self.span(part, frame))
            _charge_sizes(self, (v,), None)
            try:
                if part.conversion == "r":
                    v = repr(v)
                elif part.conversion == "s":
                    v = str(v)
                out.append(format(v, spec))
            except (ValueError, TypeError):
                out.append(str(v))
        return "".join(out)

    def _elements(self, elements, frame):
        out = []
        for el in elements:
            if isinstance(el, cst.StarredElement):
                out.extend(self.iterate(self.eval(el.value, frame), self.span(el, frame)))
            else:
                out.append(self.eval(el.value, frame))
        return out

    def e_list(self, node, frame):
        return self._elements(node.elements, frame)

    def e_tuple(self, node, frame):
        return tuple(self._elements(node.elements, frame))

    def e_set(self, node, frame):
        return set(self._elements(node.elements, frame))

    def e_dict(self, node, frame):
        out = {}
        for el in node.elements:
            if isinstance(el, cst.StarredDictElement):
                v = self.eval(el.value, frame)
                if isinstance(v, Instance) and v.storage is not None:
                    v = v.storage
                if not isinstance(v, dict):
                    raise EvalRaise("W105", "cannot expand ** of an unknown mapping", self.span(el, frame))
                out.update(v)
            else:
                out[self.eval(el.key, frame)] = self.eval(el.value, frame)
        return out

    def _comprehension(self, for_in, frame, emit):
        span = self.span(for_in, frame)
        items = self.iterate(self.eval(for_in.iter, frame), span)
        start = self.scope_steps
        size = len(items) if isinstance(items, (list, tuple, range)) else None
        if self._runaway_loops and self._ran_away(for_in, size):
            self._refuse_loop(span)
        try:
            for item in items:
                self.tick(span)
                self.assign(for_in.target, item, frame)
                ok = True
                for cond in for_in.ifs:
                    test = self.eval(cond.test, frame)
                    if isinstance(test, Unknown):
                        raise EvalRaise("W105", f"cannot decide this comprehension filter: {test.reason}",
                                        self.span(cond, frame))
                    if not self.truth(test, span):
                        ok = False
                        break
                if not ok:
                    continue
                if for_in.inner_for_in is not None:
                    self._comprehension(for_in.inner_for_in, frame, emit)
                else:
                    emit()
        except BudgetExceeded as e:
            self._locate(e, start, for_in, span, size)
            raise

    def e_listcomp(self, node, frame):
        inner = Frame(frame.file, frame.snippet, frame.func, frame)
        out = []
        self._comprehension(node.for_in, inner, lambda: out.append(self.eval(node.elt, inner)))
        return out

    def e_setcomp(self, node, frame):
        return set(self.e_listcomp(node, frame))

    def e_dictcomp(self, node, frame):
        inner = Frame(frame.file, frame.snippet, frame.func, frame)
        out = {}

        def emit():
            out[self.eval(node.key, inner)] = self.eval(node.value, inner)

        self._comprehension(node.for_in, inner, emit)
        return out

    def e_lambda(self, node, frame):
        return FunctionValue("<lambda>", f"{frame.file.module}.<lambda>", node, frame.snippet, frame.file, frame, None)

    def e_ellipsis(self, node, frame):
        return Ellipsis

    def e_namedexpr(self, node, frame):
        value = self.eval(node.value, frame)
        self.assign(node.target, value, frame)
        return value

    _expr = {
        cst.Name: e_name, cst.Attribute: e_attribute, cst.Call: e_call, cst.Subscript: e_subscript,
        cst.BinaryOperation: e_binop, cst.UnaryOperation: e_unary, cst.BooleanOperation: e_boolop,
        cst.Comparison: e_compare, cst.IfExp: e_ifexp, cst.Integer: e_integer, cst.Float: e_float,
        cst.Imaginary: e_imaginary, cst.SimpleString: e_string, cst.ConcatenatedString: e_concat,
        cst.FormattedString: e_fstring, cst.List: e_list, cst.Tuple: e_tuple, cst.Set: e_set, cst.Dict: e_dict,
        cst.ListComp: e_listcomp, cst.GeneratorExp: e_listcomp, cst.SetComp: e_setcomp, cst.DictComp: e_dictcomp,
        cst.Lambda: e_lambda, cst.Ellipsis: e_ellipsis, cst.NamedExpr: e_namedexpr,
    }
