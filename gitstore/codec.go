package gitstore

// A compact binary codec for the index file. Parsing 100,000 notes of JSON
// with encoding/json takes seconds; reading them back from this format takes
// a fraction of that. The encoding of evolve.Event is derived from its
// struct by reflection, so a field added to Event later is cached too, and
// the schema fingerprint written in the index header changes with it, which
// makes old index files rebuild instead of losing the new field.

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"hash/maphash"
	"math"
	"reflect"
	"strings"
	"time"
	"unsafe"
)

var errCorrupt = errors.New("corrupt index")

// encoder appends to a byte slice.
type encoder struct{ buf []byte }

func (e *encoder) uvarint(v uint64) { e.buf = binary.AppendUvarint(e.buf, v) }
func (e *encoder) varint(v int64)   { e.buf = binary.AppendVarint(e.buf, v) }
func (e *encoder) str(s string)     { e.uvarint(uint64(len(s))); e.buf = append(e.buf, s...) }
func (e *encoder) bytes(b []byte)   { e.uvarint(uint64(len(b))); e.buf = append(e.buf, b...) }
func (e *encoder) raw(b []byte)     { e.buf = append(e.buf, b...) }
func (e *encoder) float(f float64) {
	e.buf = binary.LittleEndian.AppendUint64(e.buf, math.Float64bits(f))
}

// decoder reads what encoder wrote. The first error sticks; reads after it
// return zero values.
type decoder struct {
	buf    []byte
	off    int
	err    error
	intern *internTable
}

// internTable shares the copies of short strings that repeat from record to
// record (experiment, host, status, model…): a direct-mapped cache, cheaper
// than a map and bounded.
type internTable struct {
	seed  maphash.Seed
	slots [4096]string
}

func newInternTable() *internTable { return &internTable{seed: maphash.MakeSeed()} }

func (t *internTable) get(b []byte) string {
	slot := &t.slots[maphash.Bytes(t.seed, b)%uint64(len(t.slots))]
	if *slot == string(b) {
		return *slot
	}
	*slot = string(b)
	return *slot
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errCorrupt
	}
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.buf[d.off:])
	if n <= 0 {
		d.fail()
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.buf[d.off:])
	if n <= 0 {
		d.fail()
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) next(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.buf)-d.off {
		d.fail()
		return nil
	}
	b := d.buf[d.off : d.off+n]
	d.off += n
	return b
}

// str copies a string out of the buffer; short strings (names, statuses,
// hosts…) are interned so that 100,000 records share one copy of each.
func (d *decoder) str() string {
	n := d.uvarint()
	b := d.next(int(n))
	if len(b) == 0 {
		return ""
	}
	if len(b) <= 48 && d.intern != nil {
		return d.intern.get(b)
	}
	c := make([]byte, len(b))
	copy(c, b)
	return unsafe.String(&c[0], len(c)) // c is never written again
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	b := d.next(int(n))
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

func (d *decoder) float() float64 {
	b := d.next(8)
	if b == nil {
		return 0
	}
	return math.Float64frombits(binary.LittleEndian.Uint64(b))
}

// structCodec encodes the exported fields of a struct: a bitmap of the
// non-zero ones, then their values.
type structCodec struct {
	typ    reflect.Type
	fields []fieldCodec
}

type fieldCodec struct {
	index int
	enc   func(*encoder, reflect.Value)
	dec   func(*decoder, reflect.Value)
}

var (
	timeType       = reflect.TypeOf(time.Time{})
	rawMessageType = reflect.TypeOf(json.RawMessage{})
	anyMapType     = reflect.TypeOf(map[string]any{})
)

func newStructCodec(t reflect.Type) *structCodec {
	c := &structCodec{typ: t}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		enc, dec := valueCodec(f.Type)
		c.fields = append(c.fields, fieldCodec{index: i, enc: enc, dec: dec})
	}
	return c
}

func (c *structCodec) encode(e *encoder, v reflect.Value) {
	mask := make([]byte, (len(c.fields)+7)/8)
	for i, f := range c.fields {
		if !v.Field(f.index).IsZero() {
			mask[i/8] |= 1 << (i % 8)
		}
	}
	e.raw(mask)
	for i, f := range c.fields {
		if mask[i/8]&(1<<(i%8)) != 0 {
			f.enc(e, v.Field(f.index))
		}
	}
}

func (c *structCodec) decode(d *decoder, v reflect.Value) {
	mask := d.next((len(c.fields) + 7) / 8)
	if mask == nil {
		return
	}
	for i, f := range c.fields {
		if mask[i/8]&(1<<(i%8)) != 0 {
			f.dec(d, v.Field(f.index))
			if d.err != nil {
				return
			}
		}
	}
}

// valueCodec returns the encoder and decoder of a value of type t.
func valueCodec(t reflect.Type) (func(*encoder, reflect.Value), func(*decoder, reflect.Value)) {
	switch {
	case t == timeType:
		return func(e *encoder, v reflect.Value) {
				tm := v.Interface().(time.Time)
				_, off := tm.Zone()
				e.varint(tm.Unix())
				e.uvarint(uint64(tm.Nanosecond()))
				e.varint(int64(off))
			}, func(d *decoder, v reflect.Value) {
				sec, nsec, off := d.varint(), d.uvarint(), d.varint()
				tm := time.Unix(sec, int64(nsec)).UTC()
				if off != 0 {
					tm = tm.In(time.FixedZone("", int(off)))
				}
				v.Set(reflect.ValueOf(tm))
			}
	case t == rawMessageType:
		return func(e *encoder, v reflect.Value) { e.bytes(v.Bytes()) },
			func(d *decoder, v reflect.Value) { v.SetBytes(d.bytes()) }
	case t == anyMapType:
		return func(e *encoder, v reflect.Value) { encodeAny(e, v.Interface()) },
			func(d *decoder, v reflect.Value) {
				if m, ok := decodeAny(d).(map[string]any); ok {
					v.Set(reflect.ValueOf(m))
				}
			}
	}
	switch t.Kind() {
	case reflect.String:
		return func(e *encoder, v reflect.Value) { e.str(v.String()) },
			func(d *decoder, v reflect.Value) { v.SetString(d.str()) }
	case reflect.Bool:
		return func(e *encoder, v reflect.Value) {
				if v.Bool() {
					e.raw([]byte{1})
				} else {
					e.raw([]byte{0})
				}
			}, func(d *decoder, v reflect.Value) {
				b := d.next(1)
				v.SetBool(b != nil && b[0] == 1)
			}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return func(e *encoder, v reflect.Value) { e.varint(v.Int()) },
			func(d *decoder, v reflect.Value) { v.SetInt(d.varint()) }
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return func(e *encoder, v reflect.Value) { e.uvarint(v.Uint()) },
			func(d *decoder, v reflect.Value) { v.SetUint(d.uvarint()) }
	case reflect.Float32, reflect.Float64:
		return func(e *encoder, v reflect.Value) { e.float(v.Float()) },
			func(d *decoder, v reflect.Value) { v.SetFloat(d.float()) }
	case reflect.Pointer:
		enc, dec := valueCodec(t.Elem())
		return func(e *encoder, v reflect.Value) { enc(e, v.Elem()) },
			func(d *decoder, v reflect.Value) {
				p := reflect.New(t.Elem())
				dec(d, p.Elem())
				v.Set(p)
			}
	case reflect.Struct:
		sc := newStructCodec(t)
		return sc.encode, sc.decode
	case reflect.Slice:
		enc, dec := valueCodec(t.Elem())
		return func(e *encoder, v reflect.Value) {
				e.uvarint(uint64(v.Len()))
				for i := 0; i < v.Len(); i++ {
					encodeElem(e, enc, v.Index(i))
				}
			}, func(d *decoder, v reflect.Value) {
				n := int(d.uvarint())
				if n > len(d.buf)-d.off {
					d.fail()
					return
				}
				s := reflect.MakeSlice(t, n, n)
				for i := 0; i < n && d.err == nil; i++ {
					decodeElem(d, dec, s.Index(i))
				}
				v.Set(s)
			}
	case reflect.Map:
		if t.Key().Kind() == reflect.String {
			enc, dec := valueCodec(t.Elem())
			return func(e *encoder, v reflect.Value) {
					e.uvarint(uint64(v.Len()))
					it := v.MapRange()
					for it.Next() {
						e.str(it.Key().String())
						encodeElem(e, enc, it.Value())
					}
				}, func(d *decoder, v reflect.Value) {
					n := int(d.uvarint())
					if n > len(d.buf)-d.off {
						d.fail()
						return
					}
					m := reflect.MakeMapWithSize(t, n)
					for i := 0; i < n && d.err == nil; i++ {
						k := reflect.New(t.Key()).Elem()
						k.SetString(d.str())
						val := reflect.New(t.Elem()).Elem()
						decodeElem(d, dec, val)
						m.SetMapIndex(k, val)
					}
					v.Set(m)
				}
		}
	}
	// Anything else round-trips through JSON.
	return func(e *encoder, v reflect.Value) {
			b, err := json.Marshal(v.Interface())
			if err != nil {
				b = []byte("null")
			}
			e.bytes(b)
		}, func(d *decoder, v reflect.Value) {
			b := d.bytes()
			if d.err == nil {
				if err := json.Unmarshal(b, v.Addr().Interface()); err != nil {
					d.fail()
				}
			}
		}
}

// Elements of slices and maps may be zero (a 0 in a list), so they carry a
// presence byte instead of the struct bitmap.
func encodeElem(e *encoder, enc func(*encoder, reflect.Value), v reflect.Value) {
	if v.IsZero() {
		e.raw([]byte{0})
		return
	}
	e.raw([]byte{1})
	enc(e, v)
}

func decodeElem(d *decoder, dec func(*decoder, reflect.Value), v reflect.Value) {
	b := d.next(1)
	if b == nil || b[0] == 0 {
		return
	}
	dec(d, v)
}

// Tags of the dynamic values in metrics (what encoding/json produces for
// an `any`).
const (
	anyNil byte = iota
	anyFalse
	anyTrue
	anyFloat
	anyString
	anyList
	anyMap
	anyJSON
)

func encodeAny(e *encoder, x any) {
	switch v := x.(type) {
	case nil:
		e.raw([]byte{anyNil})
	case bool:
		if v {
			e.raw([]byte{anyTrue})
		} else {
			e.raw([]byte{anyFalse})
		}
	case float64:
		e.raw([]byte{anyFloat})
		e.float(v)
	case string:
		e.raw([]byte{anyString})
		e.str(v)
	case []any:
		e.raw([]byte{anyList})
		e.uvarint(uint64(len(v)))
		for _, el := range v {
			encodeAny(e, el)
		}
	case map[string]any:
		e.raw([]byte{anyMap})
		e.uvarint(uint64(len(v)))
		for k, el := range v {
			e.str(k)
			encodeAny(e, el)
		}
	default:
		b, err := json.Marshal(v)
		if err != nil {
			b = []byte("null")
		}
		e.raw([]byte{anyJSON})
		e.bytes(b)
	}
}

func decodeAny(d *decoder) any {
	tag := d.next(1)
	if tag == nil {
		return nil
	}
	switch tag[0] {
	case anyNil:
		return nil
	case anyFalse:
		return false
	case anyTrue:
		return true
	case anyFloat:
		return d.float()
	case anyString:
		return d.str()
	case anyList:
		n := int(d.uvarint())
		if n > len(d.buf)-d.off {
			d.fail()
			return nil
		}
		l := make([]any, n)
		for i := range l {
			l[i] = decodeAny(d)
		}
		return l
	case anyMap:
		n := int(d.uvarint())
		if n > len(d.buf)-d.off {
			d.fail()
			return nil
		}
		m := make(map[string]any, n)
		for i := 0; i < n && d.err == nil; i++ {
			k := d.str()
			m[k] = decodeAny(d)
		}
		return m
	case anyJSON:
		var v any
		if err := json.Unmarshal(d.bytes(), &v); err != nil {
			d.fail()
		}
		return v
	}
	d.fail()
	return nil
}

// schemaFingerprint hashes the shape of the cached types; an index written
// for another shape is rebuilt.
func schemaFingerprint(types ...reflect.Type) uint64 {
	h := fnv.New64a()
	seen := map[reflect.Type]bool{}
	var describe func(t reflect.Type)
	describe = func(t reflect.Type) {
		fmt.Fprintf(h, "%s/%s;", t.String(), t.Kind())
		if seen[t] {
			return
		}
		seen[t] = true
		switch t.Kind() {
		case reflect.Struct:
			if t == timeType {
				return
			}
			for i := 0; i < t.NumField(); i++ {
				f := t.Field(i)
				fmt.Fprintf(h, "%s %s;", f.Name, strings.TrimSpace(string(f.Tag)))
				describe(f.Type)
			}
		case reflect.Pointer, reflect.Slice, reflect.Array:
			describe(t.Elem())
		case reflect.Map:
			describe(t.Key())
			describe(t.Elem())
		}
	}
	for _, t := range types {
		describe(t)
	}
	return h.Sum64()
}
