using System.Buffers.Binary;
using RegPS.Engine.IO;

namespace RegPS.Engine.TransformFiles;

/// <summary>
/// Walks an HDF5 file's structure the way PureHDF will decode it, before PureHDF sees it, and refuses what would make
/// PureHDF allocate a length read from the file, loop without end or recurse without end (all found by fuzzing: PureHDF
/// allocates a declared length before it reads, and follows addresses without checking for loops). The walk starts at
/// the superblock and follows every object header it can reach: all chunks of version 1 and version 2 headers
/// (continuation chunks included, loops refused), hard links, old-style groups (symbol table B-trees, their nodes and
/// local heaps, cached scratch-pad addresses too), and the global heap collections that variable-length data points at.
/// Every message must fit its chunk, and every length a message declares must fit the message (link names, fill values,
/// attribute names, types and values, compact data); B-tree levels must fall by one per step. It also refuses what an
/// ITK transform file never holds and PureHDF would follow out of the file or without bounds: soft and external links,
/// shared messages, external data files, virtual datasets, dense (fractal-heap) link storage, 1.10 chunk indexes,
/// compound, enumeration and array types, offsets other than 8 bytes. Addresses are from the file's start (base 0).
/// Layouts: HDF5 File Format Specification version 3, sections II (superblock), III.A-E (B-trees, symbol table nodes,
/// local and global heaps) and IV.A (object headers and their messages).
/// </summary>
internal sealed class Hdf5StructureCheck
{
    private const ulong Undefined = ulong.MaxValue;
    private readonly string _path;
    private readonly byte[] _f;
    private readonly HashSet<long> _headers = new(), _chunks = new(), _treeNodes = new(), _heaps = new(), _collections = new(), _groupTrees = new();
    private readonly Stack<long> _pendingHeaders = new();

    private Hdf5StructureCheck(string path, byte[] file) { _path = path; _f = file; }

    /// <summary>Throws <see cref="ImageFormatException"/> naming the file when the structure is not safe to hand to PureHDF.</summary>
    public static void Run(string path, byte[] file)
    {
        var c = new Hdf5StructureCheck(path, file);
        c.Superblock();
        while (c._pendingHeaders.Count > 0) c.ObjectHeader(c._pendingHeaders.Pop());
    }

    private ImageFormatException Fail(string message) => new(_path, "HDF5 structure: " + message);

    private long Length => _f.Length;

    /// <summary>True when [at, at + count) lies inside the file (no overflow).</summary>
    private bool Inside(ulong at, ulong count) => at <= (ulong)Length && count <= (ulong)Length - at;

    private void Need(ulong at, ulong count, string what)
    {
        if (!Inside(at, count)) throw Fail($"{what}: {count:N0} bytes at byte {at:N0} run past the end of the {Length:N0}-byte file");
    }

    private ushort U16(long at) => BinaryPrimitives.ReadUInt16LittleEndian(_f.AsSpan((int)at, 2));
    private uint U32(long at) => BinaryPrimitives.ReadUInt32LittleEndian(_f.AsSpan((int)at, 4));
    private ulong U64(long at) => BinaryPrimitives.ReadUInt64LittleEndian(_f.AsSpan((int)at, 8));
    private ulong UVar(long at, int width) => width switch { 1 => _f[at], 2 => U16(at), 4 => U32(at), _ => U64(at) };
    private bool Signature(long at, ReadOnlySpan<byte> sig) => Inside((ulong)at, 4) && _f.AsSpan((int)at, 4).SequenceEqual(sig);

    private void Superblock()
    {
        Need(0, 12, "the superblock");
        byte version = _f[8];
        if (version <= 1)
        {
            // signature (8), versions of the superblock, free space, root symbol table, reserved, shared header (5),
            // sizes of offsets and lengths, reserved, group leaf and internal K (4), flags (4), [v1: K (2) reserved (2)],
            // base, free space, end of file and driver information addresses, root group symbol table entry (40).
            long at = version == 0 ? 24 : 28;
            Need(0, (ulong)at + 32 + 40, "the superblock");
            Sizes(_f[13], _f[14]);
            if (U64(at) != 0) throw Fail($"a base address of {U64(at):N0} (ITK writes 0)");
            if (U64(at + 24) != Undefined) throw Fail("a driver information block (ITK transform files have none)");
            SymbolTableEntry(at + 32, "the root group's entry");
        }
        else if (version <= 3)
        {
            // signature, version, sizes of offsets and lengths, flags, base, extension, end of file and root header
            // addresses, checksum.
            Need(0, 48, "the superblock");
            Sizes(_f[9], _f[10]);
            if (U64(12) != 0) throw Fail($"a base address of {U64(12):N0} (ITK writes 0)");
            if (U64(20) != Undefined) Header(U64(20), "the superblock extension");
            Header(U64(36), "the root group");
        }
        else throw Fail($"superblock version {version} (PureHDF reads 0 to 3)");
    }

    private void Sizes(byte offsets, byte lengths)
    {
        if (offsets != 8 || lengths != 8) throw Fail($"{offsets}-byte offsets and {lengths}-byte lengths (ITK transform files use 8 and 8)");
    }

    private void Header(ulong address, string what)
    {
        if (address == Undefined || !Inside(address, 4)) throw Fail($"{what} points at byte {address:N0}, outside the {Length:N0}-byte file");
        if (_headers.Add((long)address)) _pendingHeaders.Push((long)address);
    }

    /// <summary>A symbol table entry (III.C): link name offset, object header address, cache type, reserved, scratch pad (16).</summary>
    private void SymbolTableEntry(long at, string what)
    {
        Header(U64(at + 8), what);
        switch (U32(at + 16))
        {
            case 0: break;
            case 1: GroupTree(U64(at + 24), U64(at + 32), what); break;   // cached B-tree and local heap addresses
            case 2: throw Fail($"{what} is a soft link; ITK transform files hold hard links only");
            default: throw Fail($"{what} has cache type {U32(at + 16)}");
        }
    }

    /// <summary>
    /// An object header (IV.A.1): version 1 (no signature) or version 2 ("OHDR"), every chunk of it: the first, then
    /// the continuation chunks its messages name, each once (a chunk that loops back is refused) and at most
    /// <see cref="MaxChunks"/> (PureHDF reads continuation chunks recursively: a long chain would overflow its stack).
    /// </summary>
    private void ObjectHeader(long at)
    {
        var messages = new DatasetMessages();
        var chunks = new Queue<(long Start, ulong Size)>();
        int version;
        bool creationOrder = false;
        if (_f[at] == 1)
        {
            // version, reserved, message count (2), reference count (4), header size (4), padding (4) when size > 0.
            Need((ulong)at, 16, "an object header");
            version = 1;
            chunks.Enqueue((at + 16, U32(at + 8)));
        }
        else
        {
            if (!Signature(at, "OHDR"u8)) throw Fail($"no object header at byte {at:N0}");
            Need((ulong)at, 7, "an object header");
            if (_f[at + 4] != 2) throw Fail($"the object header at byte {at:N0} has version {_f[at + 4]}");
            version = 2;
            byte flags = _f[at + 5];
            long pos = at + 6 + ((flags & 0x20) != 0 ? 16 : 0) + ((flags & 0x10) != 0 ? 4 : 0);
            int width = 1 << (flags & 3);
            Need((ulong)pos, (ulong)width, "an object header");
            creationOrder = (flags & 0x04) != 0;
            chunks.Enqueue((pos + width, UVar(pos, width)));
        }
        int count = 0;
        while (chunks.Count > 0)
        {
            if (++count > MaxChunks) throw Fail($"the object header at byte {at:N0} has more than {MaxChunks} continuation chunks");
            var (start, size) = chunks.Dequeue();
            foreach (var (offset, length) in Chunk(at, start, size, version, creationOrder, messages))
            {
                if (!Inside(offset, length)) throw Fail($"a continuation of the object header at byte {at:N0} declares {length:N0} bytes at byte {offset:N0}, past the end of the {Length:N0}-byte file");
                if (!_chunks.Add((long)offset)) throw Fail($"the continuation chunks of the object header at byte {at:N0} loop back to byte {offset:N0}");
                if (version == 1) chunks.Enqueue(((long)offset, length));
                else
                {
                    // "OCHK", messages, checksum (4): PureHDF reads length - 8 bytes of messages after the signature.
                    if (length < 8 || !Signature((long)offset, "OCHK"u8)) throw Fail($"no continuation chunk (OCHK) of {length:N0} bytes at byte {offset:N0}");
                    chunks.Enqueue(((long)offset + 4, length - 8));
                }
            }
        }
        messages.Finish(this, at);
    }

    private const int MaxChunks = 256;

    /// <summary>
    /// One chunk of messages, walked as PureHDF does (messages while more than a message prefix is left); returns the
    /// continuations it names. A message that runs past its chunk is refused (PureHDF's count of the bytes left would
    /// wrap around and it would read messages past the end without stopping).
    /// </summary>
    private List<(ulong Offset, ulong Length)> Chunk(long header, long start, ulong size, int version, bool creationOrder, DatasetMessages messages)
    {
        Need((ulong)start, size, $"the messages of the object header at byte {header:N0}");
        int prefix = version == 1 ? 8 : creationOrder ? 6 : 4;
        int gap = version == 1 ? 0 : prefix;
        var continuations = new List<(ulong Offset, ulong Length)>();
        long m = start;
        ulong remaining = size;
        while (remaining > (ulong)gap)
        {
            if (remaining < (ulong)prefix) throw Fail($"a message of the object header at byte {header:N0} is cut off by the end of its chunk");
            int type = version == 1 ? U16(m) : _f[m];
            int dataSize = version == 1 ? U16(m + 2) : U16(m + 1);
            byte flags = version == 1 ? _f[m + 4] : _f[m + 3];
            if ((ulong)dataSize > remaining - (ulong)prefix)
                throw Fail($"a message of the object header at byte {header:N0} declares {dataSize:N0} bytes, past the end of its chunk");
            long data = m + prefix;
            if ((flags & 0x02) != 0) throw Fail($"a shared message (type {type}) in the object header at byte {header:N0}; ITK transform files share none");
            if (type == 0x10)
            {
                if (dataSize < 16) throw Fail($"a continuation message of the object header at byte {header:N0} is cut off");
                continuations.Add((U64(data), U64(data + 8)));
            }
            else Message(header, type, data, dataSize, messages);
            remaining -= (ulong)(prefix + dataSize);
            m = data + dataSize;
        }
        return continuations;
    }

    /// <summary>What a dataset's messages say about its values: checked once every chunk of its header is walked.</summary>
    private sealed class DatasetMessages
    {
        public bool? VariableLength;
        public ulong? Elements;
        public long DataAddress = -1;
        public bool Chunked;

        public void Finish(Hdf5StructureCheck c, long header)
        {
            // Variable-length values (ITK's TransformType strings) are global heap IDs: length (4), collection
            // address (8), object index (4). Each collection they point at is checked before PureHDF reads it.
            if (VariableLength == true && Chunked) throw c.Fail($"variable-length values in chunks at byte {header:N0}; ITK writes them contiguously");
            if (VariableLength != true || DataAddress < 0 || Elements is not { } n) return;
            ulong bytes = n > ulong.MaxValue / 16 ? ulong.MaxValue : n * 16;   // what PureHDF reads, whatever the layout says
            if (bytes == 0) return;
            c.Need((ulong)DataAddress, bytes, $"the values of the dataset at byte {header:N0}");
            for (long e = DataAddress; e + 16 <= DataAddress + (long)bytes; e += 16)
            {
                ulong collection = c.U64(e + 4);
                if (collection != 0 && collection != Undefined) c.GlobalHeap(collection);
            }
        }
    }

    private void Message(long header, int type, long data, int size, DatasetMessages chunk)
    {
        string where = $"a message (type {type}) of the object header at byte {header:N0}";
        switch (type)
        {
            case 0x01: // dataspace (PureHDF uses the first of each kind of message)
            {
                var (n, _) = Dataspace(data, size);
                chunk.Elements ??= n;
                break;
            }
            case 0x02: // link info: version, flags, [max creation index (8)], fractal heap, name index B-tree, [order index]
            {
                int at = 2 + ((size >= 2 && (_f[data + 1] & 1) != 0) ? 8 : 0);
                if (size < at + 16) throw Fail($"{where} is cut off");
                if (U64(data + at + 8) != Undefined || U64(data + at) != Undefined)
                    throw Fail($"links in dense storage (a fractal heap) at byte {header:N0}; ITK transform files keep their few links in the group's header");
                break;
            }
            case 0x03: // datatype
            {
                var (_, _, variable) = Datatype(data, size, where, 0);
                chunk.VariableLength ??= variable;
                break;
            }
            case 0x04: // old fill value: size (4), value
                if (size < 4 || U32(data) > (ulong)(size - 4)) throw Fail($"{where} declares a fill value longer than the message");
                break;
            case 0x05: // fill value
                FillValue(data, size, where);
                break;
            case 0x06:
                Link(header, data, size, where);
                break;
            case 0x07:
                throw Fail($"a dataset at byte {header:N0} keeps its values in external files; ITK transform files keep them inside");
            case 0x08:
                Layout(header, data, size, where, chunk);
                break;
            case 0x0C:
                Attribute(data, size, where);
                break;
            case 0x0F:
                throw Fail("a shared message table; ITK transform files share no messages");
            case 0x11: // symbol table: B-tree address, local heap address
                if (size < 16) throw Fail($"{where} is cut off");
                GroupTree(U64(data), U64(data + 8), $"the group at byte {header:N0}");
                break;
        }
    }

    /// <summary>
    /// A dataspace (IV.A.2.b): the number of elements (null: 0, scalar: 1, simple: the product of the dimensions, taken
    /// as unbounded when it overflows, which PureHDF's product would wrap) and the bytes PureHDF reads for it: version,
    /// rank, flags, then (v1) 5 reserved bytes or (v2) the type; dimensions, maximum dimensions if flags bit 0 and
    /// permutation indices if flags bit 1 (8 bytes each). All must lie inside the message.
    /// </summary>
    private (ulong Elements, int Encoded) Dataspace(long data, int size)
    {
        if (size < 4) throw Fail($"a dataspace message of {size} bytes is cut off");
        byte version = _f[data], rank = _f[data + 1], flags = _f[data + 2];
        int header = version == 1 ? 8 : 4;
        int encoded = header + 8 * rank * (1 + (flags & 1) + ((flags >> 1) & 1));
        if (encoded > size) throw Fail($"a dataspace of rank {rank} does not fit its {size}-byte message");
        int type = version == 1 ? (rank > 0 ? 1 : 0) : _f[data + 3];
        if (type == 2) return (0, encoded);
        if (type == 0) return (1, encoded);
        ulong n = 1;
        for (int i = 0; i < rank; i++)
        {
            ulong d = U64(data + header + 8 * i);
            n = d != 0 && n > ulong.MaxValue / d ? ulong.MaxValue : n * d;
        }
        return (n, encoded);
    }

    /// <summary>
    /// A datatype (IV.A.2.d): its element size, encoded length and whether it is variable-length. Classes ITK's
    /// transforms never use and whose properties make PureHDF allocate per member (compound, enumeration, array) are
    /// refused.
    /// </summary>
    private (ulong Size, int Encoded, bool Variable) Datatype(long data, int available, string where, int depth)
    {
        if (available < 8) throw Fail($"the datatype in {where} is cut off");
        int cls = _f[data] & 0x0F;
        ulong size = U32(data + 4);
        int properties = cls switch
        {
            0 => 4, 1 => 12, 2 => 2, 3 => 0, 4 => 4, 7 => 0,
            5 => _f[data + 1],   // opaque: an ASCII tag padded to 8 bytes (its length is the first bit-field byte)
            9 => -1,
            _ => throw Fail($"a datatype of class {cls} ({ClassName(cls)}) in {where}; ITK transform files hold numbers and strings"),
        };
        if (properties >= 0)
        {
            if (8 + properties > available) throw Fail($"the datatype in {where} is cut off");
            return (size, 8 + properties, false);
        }
        if (depth > 2) throw Fail($"variable-length types nested too deeply in {where}");
        var (_, baseLength, _) = Datatype(data + 8, available - 8, where, depth + 1);
        return (size, 8 + baseLength, true);
    }

    private static string ClassName(int cls) => cls switch
    {
        6 => "compound", 8 => "enumeration", 10 => "array", _ => "unknown",
    };

    /// <summary>
    /// Fill value (IV.A.2.f), read as PureHDF reads it, which is past the message when the message is shorter than its
    /// fields (found by fuzzing: a 0-byte fill value message made it take a length from the next message). v1/v2:
    /// version, space allocation time, write time, defined; size (4) and value when defined is 1; v3: version, flags;
    /// size (4) and value when flags bit 5 is set and bit 4 (undefined) is not. Every byte it reads must be the message's.
    /// </summary>
    private void FillValue(long data, int size, string where)
    {
        if (size < 1) throw Fail($"{where} is an empty fill value message");
        byte version = _f[data];
        long sizeAt;
        if (version is 1 or 2)
        {
            if (size < 4) throw Fail($"{where} is cut off");
            if (_f[data + 3] != 1) return;
            sizeAt = 4;
        }
        else if (version == 3)
        {
            if (size < 2) throw Fail($"{where} is cut off");
            byte flags = _f[data + 1];
            if ((flags & 0x10) != 0 || (flags & 0x20) == 0) return;
            sizeAt = 2;
        }
        else return;   // PureHDF refuses other versions before reading further
        if (sizeAt + 4 > size || U32(data + sizeAt) > (ulong)(size - sizeAt - 4))
            throw Fail($"{where} declares a fill value longer than the message");
    }

    /// <summary>
    /// Link (IV.A.2.g): version, flags, [type (1) if bit 3], [creation order (8) if bit 2], [charset (1) if bit 4], name
    /// length (1, 2, 4 or 8 bytes by bits 0-1), name, then for a hard link the object header's address.
    /// </summary>
    private void Link(long header, long data, int size, string where)
    {
        if (size < 2) throw Fail($"{where} is cut off");
        byte flags = _f[data + 1];
        int at = 2;
        byte linkType = 0;
        if ((flags & 0x08) != 0) { if (size < 3) throw Fail($"{where} is cut off"); linkType = _f[data + 2]; at++; }
        if (linkType != 0)
            throw Fail($"the object header at byte {header:N0} holds a {(linkType == 1 ? "soft" : "non-hard")} link; ITK transform files hold hard links only");
        at += ((flags & 0x04) != 0 ? 8 : 0) + ((flags & 0x10) != 0 ? 1 : 0);
        int width = 1 << (flags & 3);
        if (at + width > size) throw Fail($"{where} is cut off");
        ulong nameLength = UVar(data + at, width);
        if (nameLength > (ulong)(size - at - width) || (ulong)(size - at - width) - nameLength < 8)
            throw Fail($"a link of the object header at byte {header:N0} declares a {nameLength:N0}-byte name in a {size}-byte message");
        Header(U64(data + at + width + (long)nameLength), $"a link of the object header at byte {header:N0}");
    }

    /// <summary>
    /// Data layout (IV.A.2.i). Versions 1-2: rank, class, 5 reserved, [address], dimensions (4 each), [compact size (4)
    /// and data]. Versions 3-4: class, then compact: size (2) and data; contiguous: address, size; chunked (v3 only):
    /// rank, B-tree address, chunk dimensions (4 each, the last the element size).
    /// </summary>
    private void Layout(long header, long data, int size, string where, DatasetMessages chunk)
    {
        if (size < 2) throw Fail($"{where} is cut off");
        byte version = _f[data];
        if (version is 1 or 2)
        {
            if (size < 8) throw Fail($"{where} is cut off");
            byte rank = _f[data + 1], cls = _f[data + 2];
            if (cls > 2) throw Fail($"layout class {cls} in {where}");
            long at = 8 + (cls != 0 ? 8 : 0) + 4L * rank;
            if (at > size) throw Fail($"{where} is cut off");
            if (cls == 2) throw Fail($"a chunked dataset with a version {version} layout at byte {header:N0}; ITK transform files use version 3");
            if (cls == 1) { if (chunk.DataAddress < 0) chunk.DataAddress = (long)Math.Min(U64(data + 8), (ulong)long.MaxValue); return; }
            if (at + 4 > size || U32(data + at) > (ulong)(size - at - 4)) throw Fail($"{where} declares more compact data than the message holds");
            if (chunk.DataAddress < 0) chunk.DataAddress = data + at + 4;
            return;
        }
        if (version is not (3 or 4)) return;   // PureHDF refuses other versions itself
        switch (_f[data + 1])
        {
            case 0:
                if (size < 4 || U16(data + 2) > size - 4) throw Fail($"{where} declares more compact data than the message holds");
                if (chunk.DataAddress < 0) chunk.DataAddress = data + 4;
                return;
            case 1:
                if (size < 18) throw Fail($"{where} is cut off");
                if (chunk.DataAddress < 0) chunk.DataAddress = (long)Math.Min(U64(data + 2), (ulong)long.MaxValue);
                return;
            case 2 when version == 3:
            {
                if (size < 11) throw Fail($"{where} is cut off");
                byte rank = _f[data + 2];
                if (rank < 2 || 11 + 4 * rank > size) throw Fail($"{where} declares {rank} chunk dimensions");
                ulong bytes = 1;
                for (int i = 0; i < rank; i++)
                {
                    ulong d = U32(data + 11 + 4 * i);
                    bytes = d != 0 && bytes > ulong.MaxValue / d ? ulong.MaxValue : bytes * d;
                }
                ulong limit = (ulong)Math.Max(64L * Length, 1L << 20);
                if (bytes > limit) throw Fail($"chunks of {bytes:N0} bytes in a {Length:N0}-byte file (object header at byte {header:N0})");
                chunk.Chunked = true;
                if (U64(data + 3) != Undefined) TreeNode(U64(data + 3), 1, -1, rank, $"the chunk index of the dataset at byte {header:N0}");
                return;
            }
            case 2:
                throw Fail($"a chunk index of HDF5 1.10 (layout version 4) at byte {header:N0}; ITK transform files do not use it");
            default:
                throw Fail($"layout class {_f[data + 1]} (a virtual dataset) at byte {header:N0}; ITK transform files keep their values inside");
        }
    }

    /// <summary>
    /// Attribute (IV.A.2.m): version, flags (v2+), name, datatype and dataspace sizes (2 each), [charset (v3)], name,
    /// datatype, dataspace (each padded to 8 bytes in v1), value: element count times element size, all inside the message.
    /// </summary>
    private void Attribute(long data, int size, string where)
    {
        if (size < 8) throw Fail($"{where} is cut off");
        byte version = _f[data];
        if (version is < 1 or > 3) return;   // PureHDF refuses it
        if (version >= 2 && (_f[data + 1] & 0x03) != 0) throw Fail($"{where} is an attribute with a shared type or space; ITK transform files share none");
        int nameSize = U16(data + 2), typeSize = U16(data + 4), spaceSize = U16(data + 6);
        int Pad(int n) => version == 1 ? (n + 7) & ~7 : n;
        // PureHDF decodes the parts one after the other, where they end, not where the declared sizes put them: the
        // declared sizes must be what the parts take, or the two would read different bytes.
        int at = 8 + (version == 3 ? 1 : 0);
        if (at + Pad(nameSize) + Pad(typeSize) + Pad(spaceSize) > size) throw Fail($"{where} declares a name, type and space longer than the message");
        int zero = nameSize == 0 ? -1 : _f.AsSpan((int)(data + at), nameSize).IndexOf((byte)0);
        if (zero != nameSize - 1) throw Fail($"{where} has an attribute name that does not end where it declares");
        at += Pad(nameSize);
        var (elementSize, typeLength, _) = Datatype(data + at, typeSize, where, 0);
        if (typeLength != typeSize) throw Fail($"{where} has a {typeLength}-byte datatype where it declares {typeSize}");
        at += Pad(typeSize);
        var (elements, spaceLength) = Dataspace(data + at, spaceSize);
        if (spaceLength != spaceSize) throw Fail($"{where} has a {spaceLength}-byte dataspace where it declares {spaceSize}");
        at += Pad(spaceSize);
        ulong bytes = elementSize != 0 && elements > ulong.MaxValue / elementSize ? ulong.MaxValue : elements * elementSize;
        if (bytes > (ulong)(size - at)) throw Fail($"{where} declares a {bytes:N0}-byte value in a {size}-byte message");
    }

    /// <summary>
    /// An old-style group's B-tree (III.A.1, node type 0) and local heap (III.D): every node, each child one level
    /// below its parent (a node that pointed back up would make PureHDF recurse without end), every symbol table
    /// node (III.C: "SNOD", version, reserved, entry count (2), entries of 40 bytes) and the entries' object headers.
    /// </summary>
    private void GroupTree(ulong tree, ulong heap, string what)
    {
        LocalHeap(heap, what);
        if (_groupTrees.Add((long)tree)) TreeNode(tree, 0, -1, 0, what);   // a cached scratch pad names the same tree again
    }

    private void LocalHeap(ulong heap, string what)
    {
        // "HEAP", version, reserved (3), data segment size (8), free list offset (8), data segment address (8).
        Need(heap, 32, $"the local heap of {what}");
        if (!_heaps.Add((long)heap)) return;
        if (!Signature((long)heap, "HEAP"u8)) throw Fail($"no local heap at byte {heap:N0} ({what})");
        ulong size = U64((long)heap + 8), address = U64((long)heap + 24);
        if (!Inside(address, size)) throw Fail($"the local heap at byte {heap:N0} declares {size:N0} bytes at byte {address:N0}, past the end of the {Length:N0}-byte file");
    }

    /// <summary>A version 1 B-tree node: "TREE", type, level, entries used (2), left and right siblings, then keys and
    /// children (group keys: 8 bytes; chunk keys: size (4), filter mask (4), rank offsets of 8 bytes).</summary>
    private void TreeNode(ulong at, int type, int expectedLevel, int rank, string what)
    {
        Need(at, 24, $"a B-tree node of {what}");
        if (!Signature((long)at, "TREE"u8) || _f[at + 4] != type) throw Fail($"no B-tree node of type {type} at byte {at:N0} ({what})");
        int level = _f[at + 5];
        if (expectedLevel >= 0 && level != expectedLevel) throw Fail($"the B-tree node at byte {at:N0} has level {level} where its parent needs {expectedLevel} ({what})");
        if (!_treeNodes.Add((long)at)) throw Fail($"the B-tree of {what} reaches the node at byte {at:N0} twice");
        int entries = U16((long)at + 6);
        long key = type == 0 ? 8 : 8 + 8L * rank;
        Need(at, 24 + (ulong)entries * (ulong)(key + 8) + (ulong)key, $"a B-tree node of {what}");
        for (int i = 0; i < entries; i++)
        {
            ulong child = U64((long)at + 24 + key + i * (key + 8));
            if (level > 0) TreeNode(child, type, level - 1, rank, what);
            else if (type == 0) SymbolTableNode(child, what);
            else if (type == 1)
            {
                ulong bytes = U32((long)at + 24 + i * (key + 8));
                if (!Inside(child, bytes)) throw Fail($"a chunk of {bytes:N0} bytes at byte {child:N0} runs past the end of the {Length:N0}-byte file ({what})");
            }
        }
    }

    private void SymbolTableNode(ulong at, string what)
    {
        Need(at, 8, $"a symbol table node of {what}");
        if (!Signature((long)at, "SNOD"u8)) throw Fail($"no symbol table node at byte {at:N0} ({what})");
        int count = U16((long)at + 6);
        Need(at, 8 + 40UL * (ulong)count, $"a symbol table node of {what}");
        for (int i = 0; i < count; i++) SymbolTableEntry((long)at + 8 + 40 * i, $"an entry of {what}");
    }

    /// <summary>
    /// A global heap collection (III.E): "GCOL", version, 3 reserved, collection size (8); objects: index (2), reference
    /// count (2), 4 reserved, size (8), data padded to 8 bytes; index 0 starts the free space. Its size and every
    /// object's must fit (PureHDF allocates an object's declared size before reading it).
    /// </summary>
    private void GlobalHeap(ulong at)
    {
        if (!_collections.Add((long)at)) return;
        Need(at, 16, "a global heap collection");
        if (!Signature((long)at, "GCOL"u8)) throw Fail($"a variable-length value points at byte {at:N0}, where there is no global heap collection");
        ulong size = U64((long)at + 8);
        if (size < 16 || !Inside(at, size)) throw Fail($"the global heap at byte {at:N0} declares {size:N0} bytes, past the end of the {Length:N0}-byte file");
        long end = (long)(at + size), pos = (long)at + 16;
        while (pos + 16 <= end)
        {
            ushort index = U16(pos);
            if (index == 0) break;
            ulong objectSize = U64(pos + 8);
            if (objectSize > (ulong)(end - pos - 16))
                throw Fail($"object {index} of the global heap at byte {at:N0} declares {objectSize:N0} bytes, more than its heap holds");
            pos += 16 + (long)((objectSize + 7) & ~7UL);
        }
    }
}
