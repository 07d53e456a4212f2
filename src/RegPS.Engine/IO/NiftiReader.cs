using System.Buffers;
using System.IO.Compression;
using ICSharpCode.SharpZipLib;
using ICSharpCode.SharpZipLib.BZip2;
using RegPS.Engine.Images;

namespace RegPS.Engine.IO;

/// <summary>
/// Reads NIfTI-1 and NIfTI-2 images: .nii, .nii.gz, .nii.bz2 and .hdr/.img pairs (either half may be gzip- or
/// bzip2-compressed; compression is recognised from the content, not the name), in either byte order.
/// Voxels come back as float32 with scl_slope/scl_inter applied and the grid-to-world matrix nibabel's img.affine gives.
/// A corrupt, truncated or absurd file gives an <see cref="ImageFormatException"/> naming the file and the problem,
/// and nothing is allocated beyond what the file can really hold.
/// </summary>
public static class NiftiReader
{
    /// <summary>The gzip decompressor. BCL GZipStream (zlib-ng) measured faster than SharpZipLib; see NiftiGzipBenchmark.</summary>
    internal enum GzipBackend { Bcl, SharpZipLib }

    internal static GzipBackend Gzip { get; set; } = GzipBackend.Bcl;

    /// <summary>Voxels decoded per chunk.</summary>
    internal static int ChunkVoxels { get; set; } = 1 << 18;

    /// <summary>First allocation (floats) for data from a compressed stream whose real length is unknown until decoded.</summary>
    private const long MinInitialCompressedCapacity = 1 << 22;

    private enum Compression { None, Gzip, Bzip2 }

    /// <summary>
    /// Reads an image. <paramref name="volume"/> null reads all volumes (a 4D image when there are several);
    /// an index reads that volume only, seeking past the others in uncompressed files and decompressing without
    /// converting them in compressed ones.
    /// </summary>
    /// <exception cref="FileNotFoundException">The file (or the header of an .img) does not exist.</exception>
    /// <exception cref="ImageFormatException">The file is not a NIfTI image RegPS can read.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="volume"/> is not a volume of the image.</exception>
    public static Image Read(string path, int? volume = null, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string full = Path.GetFullPath(path);
        var (headerPath, imagePath) = Locate(full);
        Stream? hs = null, ds = null;
        try
        {
            hs = OpenFile(headerPath, out var hComp, out long hLength);
            var h = ReadHeaderFrom(hs, headerPath, hComp, hLength);
            var layout = Validate(h, headerPath);
            if (volume is { } v && (v < 0 || v >= layout.Volumes))
                throw new ArgumentOutOfRangeException(nameof(volume), v, $"{headerPath} has {layout.Volumes} volume(s); volume {v} does not exist.");
            long outVolumes = volume is null ? layout.Volumes : 1;
            long outCount = layout.VoxelsPerVolume * outVolumes;
            if (outCount > Array.MaxLength)
                throw new ImageFormatException(headerPath, $"the image has {outCount:N0} voxels ({Dims(h)}), more than one image can hold ({Array.MaxLength:N0}); read one volume at a time");

            var grid = MakeGrid(h, layout, headerPath);

            string dataPath;
            Compression dComp;
            long dLength, position;
            if (layout.SingleFile)
            {
                ds = hs; hs = null;
                dataPath = headerPath; dComp = hComp; dLength = hLength;
                position = h.Version == 2 ? NiftiFormat.Nifti2HeaderSize : NiftiFormat.Nifti1HeaderSize;
            }
            else
            {
                dataPath = imagePath ?? FindPairImage(headerPath, h);
                hs.Dispose(); hs = null;
                ds = OpenFile(dataPath, out dComp, out dLength);
                position = 0;
            }
            long voxOffset = (long)h.VoxOffset;
            long totalBytes = layout.BytesPerVolume * layout.Volumes;
            long start = voxOffset + (volume ?? 0) * layout.BytesPerVolume;
            long compressedLength = dLength;
            if (dComp == Compression.None)
            {
                if (voxOffset > dLength)
                    throw new ImageFormatException(dataPath, $"vox_offset {voxOffset} is beyond the end of the file ({dLength} bytes)");
                if (voxOffset + totalBytes > dLength)
                    throw new ImageFormatException(dataPath, $"truncated data: the header declares {totalBytes:N0} bytes of voxel data ({Dims(h)} x {layout.Type.Bytes} bytes, {layout.Type.Name}) from byte {voxOffset}, but the file has only {dLength - voxOffset:N0} bytes after it");
                ds.Seek(start, SeekOrigin.Begin);
            }
            else
            {
                Skip(ds, voxOffset - position, dataPath, dComp, $"the decompressed data ends before vox_offset {voxOffset}", ct);
                Skip(ds, start - voxOffset, dataPath, dComp, $"truncated data: the decompressed data ends before volume {volume}", ct);
            }

            long capacity = dComp == Compression.None
                ? outCount
                : Math.Min(outCount, Math.Max(MinInitialCompressedCapacity, compressedLength * 32 / layout.Type.Bytes));
            var (voxels, colourRaw) = ReadVoxels(ds, dataPath, dComp, h, layout, outCount, capacity, ct);

            if (dComp != Compression.None && volume is null)
            {
                int extra;
                try { extra = ds.ReadByte(); }
                catch (Exception e) when (IsDecompressionError(e)) { throw Corrupt(dataPath, dComp, e); }
                if (extra >= 0)
                    throw new ImageFormatException(dataPath, $"the {Name(dComp)} data decompresses past the {voxOffset + totalBytes:N0} bytes the header declares (header plus {Dims(h)} x {layout.Type.Bytes} bytes)");
            }

            float[]? colour = null;
            if (colourRaw is not null)
            {
                colour = new float[3 * layout.VoxelsPerVolume];
                VoxelCodec.ExtractColour(colourRaw, layout.Type.Bytes, colour, (int)layout.VoxelsPerVolume, 0);
                if (outVolumes > 1) h.Warnings.Add($"colour planes kept for the first of {outVolumes} volumes only; the voxels of every volume are luminance.");
            }
            return new Image(grid, voxels, (int)outVolumes, colour, full, layout.Type.Name, h, voxelsAreSource: true);
        }
        finally
        {
            ds?.Dispose();
            hs?.Dispose();
        }
    }

    /// <summary>Reads and checks the header only (with nibabel's load-time fixes applied and noted in Warnings).</summary>
    public static NiftiHeader ReadHeader(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string full = Path.GetFullPath(path);
        var (headerPath, _) = Locate(full);
        using var hs = OpenFile(headerPath, out var comp, out long length);
        var h = ReadHeaderFrom(hs, headerPath, comp, length);
        var layout = Validate(h, headerPath);
        MakeGrid(h, layout, headerPath);
        return h;
    }

    // ---------------------------------------------------------------- layout and validation

    private sealed record Layout(int NX, int NY, int NZ, long Volumes, int Dimension, NiftiType Type, Scaling Scaling, bool SingleFile)
    {
        public long VoxelsPerVolume => (long)NX * NY * NZ;
        public long BytesPerVolume => VoxelsPerVolume * Type.Bytes;
    }

    private static string Dims(NiftiHeader h)
    {
        int n = (int)Math.Clamp(h.Dim[0], 1, 7);
        return string.Join("x", h.Dim.Skip(1).Take(n));
    }

    private static Layout Validate(NiftiHeader h, string path)
    {
        string single = h.Version == 2 ? "n+2" : "n+1", pair = h.Version == 2 ? "ni2" : "ni1";
        if (h.Magic != single && h.Magic != pair)
        {
            if (h.Version == 1 && h.Magic.Length == 0)
                throw new ImageFormatException(path, "no NIfTI magic ('n+1' or 'ni1') at byte 344: this is an Analyze 7.5 header, which RegPS does not read");
            throw new ImageFormatException(path, $"wrong magic '{Printable(h.Magic)}' for a NIfTI-{h.Version} header (expected '{single}' or '{pair}')");
        }
        bool singleFile = h.Magic == single;

        if (NiftiFormat.UnsupportedReason(h.DataType) is { } why)
            throw new ImageFormatException(path, why);
        NiftiFormat.TryGetType(h.DataType, out var type);
        if (h.BitPix != type.BitPix)
            throw new ImageFormatException(path, $"bitpix {h.BitPix} does not match datatype {type.Name} ({h.DataType}), which has {type.BitPix} bits per voxel");

        long ndim = h.Dim[0];
        if (ndim < 1 || ndim > 7)
            throw new ImageFormatException(path, $"dim[0] (the number of dimensions) is {ndim}; it must be 1 to 7");
        for (int i = 1; i <= ndim; i++)
            if (h.Dim[i] < 1)
                throw new ImageFormatException(path, $"dim[{i}] is {h.Dim[i]}: image sizes must be positive ({Dims(h)})");
        long D(int i) => i <= ndim ? h.Dim[i] : 1;
        if (D(6) > 1 || D(7) > 1)
            throw new ImageFormatException(path, $"the image has {ndim} dimensions ({Dims(h)}); RegPS reads up to 4-D images and 5-D vector fields, not dimensions 6 and 7");
        long nx = D(1), ny = D(2), nz = D(3), nt = D(4), nc = D(5);
        long vpv, volumes;
        try
        {
            vpv = checked(nx * ny * nz);
            volumes = checked(nt * nc);
            _ = checked(checked(vpv * volumes) * type.Bytes);
        }
        catch (OverflowException)
        {
            throw new ImageFormatException(path, $"the image size {Dims(h)} overflows: the header cannot be right");
        }
        if (vpv > Array.MaxLength)
            throw new ImageFormatException(path, $"one volume has {vpv:N0} voxels ({Dims(h)}), more than one image can hold ({Array.MaxLength:N0})");
        if (type.IsColour && 3 * vpv > Array.MaxLength)
            throw new ImageFormatException(path, $"the colour planes of one volume ({Dims(h)}, {type.Name}) would need {3 * vpv:N0} values, more than one image can hold");
        if (volumes > int.MaxValue)
            throw new ImageFormatException(path, $"the image has {volumes:N0} volumes ({Dims(h)}), more than RegPS handles");
        if (nc > 1)
            h.Warnings.Add(nt > 1
                ? $"5-D image ({Dims(h)}): the {nt} x {nc} (time x component) volumes are loaded as {volumes} volumes, time fastest."
                : $"5-D vector field ({Dims(h)}): its {nc} components are loaded as {nc} volumes.");

        var scaling = Scaling.FromHeader(h.SclSlope, h.SclInter)
            ?? throw new ImageFormatException(path, $"scl_slope is {h.SclSlope:G9} but scl_inter is {h.SclInter} (not finite)");
        if (type.IsColour && !scaling.IsIdentity)
            h.Warnings.Add($"scl_slope/scl_inter ignored for {type.Name} data.");

        int headerSize = h.Version == 2 ? NiftiFormat.Nifti2HeaderSize : NiftiFormat.Nifti1HeaderSize;
        if (!double.IsFinite(h.VoxOffset) || h.VoxOffset < 0)
            throw new ImageFormatException(path, $"vox_offset {h.VoxOffset} is not a valid byte offset");
        h.VoxOffset = Math.Floor(h.VoxOffset);
        if (singleFile && h.VoxOffset < headerSize + 4)
        {
            if (h.VoxOffset != 0)
                throw new ImageFormatException(path, $"vox_offset {h.VoxOffset} lies inside the header: a single-file NIfTI-{h.Version} has its data at byte {headerSize + 4} or later");
            h.Warnings.Add($"vox_offset is 0 in a single-file NIfTI; the data is read from byte {headerSize + 4}, right after the header.");
            h.VoxOffset = headerSize + 4;
        }

        NiftiFormat.ApplyNibabelFixes(h);
        int dimension = nz == 1 && volumes == 1 ? 2 : 3;
        return new Layout((int)nx, (int)ny, (int)nz, volumes, dimension, type, scaling, singleFile);
    }

    private static Grid MakeGrid(NiftiHeader h, Layout layout, string path)
    {
        Matrix4 affine;
        try { affine = NiftiFormat.BestAffine(h); }
        catch (FormatException e) { throw new ImageFormatException(path, e.Message); }
        string which = h.SFormCode != 0 ? "sform" : h.QFormCode != 0 ? "qform" : "pixdim";
        if (!affine.IsFinite)
            throw new ImageFormatException(path, $"the {which} grid-to-world matrix has non-finite values");
        try
        {
            return new Grid(layout.NX, layout.NY, layout.NZ, affine, layout.Dimension);
        }
        catch (ArgumentException)
        {
            throw new ImageFormatException(path, $"the {which} grid-to-world matrix {affine} is singular (a zero voxel size or collinear axes)");
        }
    }

    private static string Printable(string s) => new(s.Select(c => c is >= ' ' and < (char)127 ? c : '?').ToArray());

    // ---------------------------------------------------------------- files and streams

    private static readonly string[] HeaderSuffixes = { ".hdr", ".hdr.gz", ".hdr.bz2" };
    private static readonly string[] ImageSuffixes = { ".img", ".img.gz", ".img.bz2" };

    /// <summary>The header file and, when <paramref name="full"/> names the .img of a pair, that image file.</summary>
    private static (string Header, string? Image) Locate(string full)
    {
        if (!File.Exists(full))
            throw new FileNotFoundException($"{full}: no such file.", full);
        var suffix = ImageSuffixes.FirstOrDefault(s => full.EndsWith(s, StringComparison.OrdinalIgnoreCase));
        if (suffix is null) return (full, null);
        string stem = full[..^suffix.Length];
        bool upper = full[^suffix.Length..].Any(char.IsUpper);
        foreach (var hs in HeaderSuffixes)
        {
            string candidate = stem + (upper ? hs.ToUpperInvariant() : hs);
            if (File.Exists(candidate)) return (candidate, full);
        }
        throw new FileNotFoundException($"{full} is the image half of a .hdr/.img pair, but its header {stem}.hdr does not exist.", stem + ".hdr");
    }

    private static string FindPairImage(string headerPath, NiftiHeader h)
    {
        var suffix = HeaderSuffixes.Reverse().FirstOrDefault(s => headerPath.EndsWith(s, StringComparison.OrdinalIgnoreCase));
        string stem = suffix is null ? Path.Combine(Path.GetDirectoryName(headerPath)!, Path.GetFileNameWithoutExtension(headerPath)) : headerPath[..^suffix.Length];
        bool upper = suffix is not null && headerPath[^suffix.Length..].Any(char.IsUpper);
        foreach (var s in ImageSuffixes)
        {
            string candidate = stem + (upper ? s.ToUpperInvariant() : s);
            if (File.Exists(candidate)) return candidate;
        }
        throw new ImageFormatException(headerPath, $"the header (magic '{h.Magic}') keeps its voxels in a separate file, but {stem}.img does not exist");
    }

    /// <summary>Opens a file, decompressing when it starts with a gzip (1F 8B) or bzip2 ("BZh") signature.</summary>
    private static Stream OpenFile(string path, out Compression compression, out long length)
    {
        var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        try
        {
            length = fs.Length;
            Span<byte> sig = stackalloc byte[3];
            int n = fs.ReadAtLeast(sig, 3, throwOnEndOfStream: false);
            fs.Position = 0;
            compression = n >= 2 && sig[0] == 0x1F && sig[1] == 0x8B ? Compression.Gzip
                : n == 3 && sig[0] == (byte)'B' && sig[1] == (byte)'Z' && sig[2] == (byte)'h' ? Compression.Bzip2
                : Compression.None;
            return compression switch
            {
                Compression.Gzip when Gzip == GzipBackend.SharpZipLib => new ICSharpCode.SharpZipLib.GZip.GZipInputStream(fs, 1 << 16),
                Compression.Gzip => new GZipStream(fs, CompressionMode.Decompress),
                Compression.Bzip2 => new ConcatenatedBZip2Stream(fs),
                _ => fs,
            };
        }
        catch
        {
            fs.Dispose();
            throw;
        }
    }

    private static string Name(Compression c) => c switch { Compression.Gzip => "gzip", Compression.Bzip2 => "bzip2", _ => "file" };

    private static bool IsDecompressionError(Exception e) =>
        e is InvalidDataException or Bzip2DataException or SharpZipBaseException or EndOfStreamException or IndexOutOfRangeException;

    private static ImageFormatException Corrupt(string path, Compression c, Exception e) => e is Bzip2DataException
        ? new(path, e.Message, e)
        : new(path, $"corrupt or truncated {Name(c)} data: {e.Message}", e);

    /// <summary>Reads until <paramref name="buffer"/> is full or the stream ends; returns the bytes read.</summary>
    private static int Fill(Stream s, Span<byte> buffer, string path, Compression c)
    {
        try { return s.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false); }
        catch (Exception e) when (IsDecompressionError(e)) { throw Corrupt(path, c, e); }
    }

    private static void Skip(Stream s, long count, string path, Compression c, string problem, CancellationToken ct)
    {
        if (count <= 0) return;
        var scratch = ArrayPool<byte>.Shared.Rent(1 << 16);
        try
        {
            while (count > 0)
            {
                ct.ThrowIfCancellationRequested();
                int want = (int)Math.Min(count, scratch.Length);
                int got = Fill(s, scratch.AsSpan(0, want), path, c);
                if (got < want) throw new ImageFormatException(path, problem);
                count -= got;
            }
        }
        finally { ArrayPool<byte>.Shared.Return(scratch); }
    }

    private static NiftiHeader ReadHeaderFrom(Stream s, string path, Compression c, long fileLength)
    {
        Span<byte> first = stackalloc byte[4];
        int n = Fill(s, first, path, c);
        if (n < 4)
            throw new ImageFormatException(path, c == Compression.None
                ? $"truncated header: the file has {fileLength} bytes, a NIfTI header needs {NiftiFormat.Nifti1HeaderSize}"
                : $"truncated header: the {Name(c)} data holds {n} bytes, a NIfTI header needs {NiftiFormat.Nifti1HeaderSize}");
        if (!NiftiFormat.TryDetect(first, out int version, out bool big))
            throw new ImageFormatException(path, $"not a NIfTI file: the header size (first 4 bytes) is {BitConverter.ToInt32(first)}, expected 348 (NIfTI-1) or 540 (NIfTI-2) in either byte order");
        int size = version == 2 ? NiftiFormat.Nifti2HeaderSize : NiftiFormat.Nifti1HeaderSize;
        var block = new byte[size];
        first.CopyTo(block);
        int got = Fill(s, block.AsSpan(4), path, c);
        if (got < size - 4)
            throw new ImageFormatException(path, $"truncated header: {4 + got} of the {size} bytes of a NIfTI-{version} header");
        return NiftiFormat.Parse(block, version, big);
    }

    // ---------------------------------------------------------------- voxels

    /// <summary>
    /// Decodes <paramref name="count"/> voxels chunk by chunk. The destination starts at <paramref name="capacity"/> and
    /// grows (doubling, capped at count) only as real data arrives, so a header that lies about the size of compressed
    /// data costs no more memory than the data the stream actually holds.
    /// Also returns the raw bytes of the first volume for colour types.
    /// </summary>
    private static (float[] Voxels, byte[]? ColourRaw) ReadVoxels(Stream s, string path, Compression c, NiftiHeader h,
        Layout layout, long count, long capacity, CancellationToken ct)
    {
        var type = layout.Type;
        int bpv = type.Bytes;
        var buffer = new float[capacity];
        byte[]? colourRaw = null;
        long colourBytes = type.IsColour ? layout.VoxelsPerVolume * bpv : 0;
        int chunkVoxels = Math.Max(64, ChunkVoxels);
        var chunk = ArrayPool<byte>.Shared.Rent(chunkVoxels * bpv);
        // Only scaling or float64 storage can turn a finite stored value into a float32 infinity.
        bool checkRange = !type.IsColour && (!layout.Scaling.IsIdentity || type.Kind == VoxelKind.Float64);
        try
        {
            long pos = 0;
            while (pos < count)
            {
                ct.ThrowIfCancellationRequested();
                int n = (int)Math.Min(count - pos, chunkVoxels);
                int want = n * bpv;
                int got = Fill(s, chunk.AsSpan(0, want), path, c);
                if (got < want)
                {
                    long have = pos * bpv + got;
                    throw new ImageFormatException(path, $"truncated data: {(c == Compression.None ? "the file" : $"the {Name(c)} data")} ends after {have:N0} of the {count * bpv:N0} bytes of voxel data the header declares ({Dims(h)}, {type.Name})");
                }
                if (pos + n > buffer.Length)
                {
                    long grown = Math.Min(count, Math.Max(pos + n, 2L * buffer.Length));
                    Array.Resize(ref buffer, (int)grown);
                }
                if (colourBytes > 0 && pos * bpv < colourBytes)
                {
                    long cap = colourRaw?.Length ?? Math.Min(colourBytes, Math.Max(1 << 20, capacity * bpv));
                    colourRaw ??= new byte[cap];
                    int take = (int)Math.Min(want, colourBytes - pos * bpv);
                    if (pos * bpv + take > colourRaw.Length)
                        Array.Resize(ref colourRaw, (int)Math.Min(colourBytes, Math.Max(pos * bpv + take, 2L * colourRaw.Length)));
                    chunk.AsSpan(0, take).CopyTo(colourRaw.AsSpan((int)(pos * bpv)));
                }
                VoxelCodec.Decode(chunk.AsSpan(0, want), buffer.AsSpan((int)pos, n), type, h.BigEndian, layout.Scaling);
                if (checkRange) CheckFloat32Range(chunk.AsSpan(0, want), buffer.AsSpan((int)pos, n), pos, path, type, layout.Scaling);
                pos += n;
            }
        }
        finally { ArrayPool<byte>.Shared.Return(chunk); }
        return (buffer, colourRaw);
    }

    /// <summary>
    /// Finds voxels that were finite on disk but are not finite after decoding (a huge scl_slope or scl_inter, or a
    /// float64 value beyond float32). Each is scaled again in double: if the exact value fits float32 it is kept
    /// (rounded once; within float32 rounding of the largest float32 it becomes that); otherwise the file is refused,
    /// naming the field and the voxel, rather than returning infinity.
    /// Voxels that are NaN or infinite on disk stay so, as nibabel returns them.
    /// </summary>
    private static void CheckFloat32Range(ReadOnlySpan<byte> raw, Span<float> decoded, long first, string path, NiftiType type, Scaling scaling)
    {
        for (int i = 0; i < decoded.Length; i++)
        {
            if (float.IsFinite(decoded[i])) continue;
            double stored = VoxelCodec.StoredValue(raw, i, type);
            if (!double.IsFinite(stored)) continue;
            double exact = stored * scaling.Slope + scaling.Inter;
            float f = (float)exact;
            if (float.IsFinite(f)) { decoded[i] = f; continue; }
            // Within float32 rounding of the largest float32 (scl_slope and scl_inter are float32 in NIfTI-1, so a
            // writer that maps its range onto the stored type, as nibabel does, lands there): the largest float32.
            if (Math.Abs(exact) <= float.MaxValue * (1 + 1e-6)) { decoded[i] = exact > 0 ? float.MaxValue : float.MinValue; continue; }
            throw new ImageFormatException(path, scaling.IsIdentity
                ? $"voxel {first + i:N0} holds the float64 value {stored:G9}, beyond the float32 range (±{float.MaxValue:G3}) RegPS keeps voxels in"
                : $"scl_slope {scaling.Slope:G9} and scl_inter {scaling.Inter:G9} scale the stored {type.Name} value {stored:G9} of voxel {first + i:N0} to {exact:G9}, beyond the float32 range (±{float.MaxValue:G3}) RegPS keeps voxels in; the header's scl_slope is likely wrong");
        }
    }
}

/// <summary>
/// bzip2 decompression of one or more concatenated streams (as pbzip2 and `cat a.bz2 b.bz2` make; Python's bz2 and
/// nibabel read them too). SharpZipLib's BZip2InputStream stops at the end of the first stream and reads the file
/// byte by byte, so the next stream starts right where it stopped.
/// </summary>
internal sealed class ConcatenatedBZip2Stream : Stream
{
    private readonly Stream _file;
    private BZip2InputStream? _current;
    private long _produced;

    /// <summary>Nothing is read until the first Read, so a broken stream header is reported there, like any other fault.</summary>
    public ConcatenatedBZip2Stream(Stream file) => _file = file;

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (buffer.IsEmpty) return 0;
        try
        {
            int n = ReadDecoded(buffer);
            _produced += n;
            return n;
        }
        // SharpZipLib's decoder trusts its Huffman tables: corrupt ones surface as index or null-reference faults inside
        // it (a NullReferenceException from GetAndMoveToFrontDecode was found by fuzzing); all of them mean corrupt data.
        catch (Exception e) when (e is EndOfStreamException or SharpZipBaseException or IndexOutOfRangeException or ArgumentOutOfRangeException
                                    or NullReferenceException or OverflowException)
        {
            throw Translate(e);
        }
    }

    /// <summary>
    /// SharpZipLib's faults in RegPS's words: where it ran out of input the file is truncated, or corrupt so that the
    /// decoder read past its end (its own text is "end of compressed stream"; the two cannot be told apart); a CRC
    /// mismatch or a malformed block is corruption. Each says how far decoding got.
    /// </summary>
    private Bzip2DataException Translate(Exception e)
    {
        long at = _file.CanSeek ? _file.Position : -1;
        string where = $"after {_produced:N0} decompressed bytes" + (at >= 0 ? $", at byte {at:N0} of the file" : "");
        if (e is EndOfStreamException)
            return new Bzip2DataException($"truncated or corrupt bzip2 data: the file ends before the bzip2 end-of-stream marker ({where})", e);
        string what = e.Message.Contains("crc", StringComparison.OrdinalIgnoreCase)
            ? "a block fails its CRC check"
            : "a block cannot be decoded";
        return new Bzip2DataException($"corrupt bzip2 data: {what} ({where})", e);
    }

    private int ReadDecoded(Span<byte> buffer)
    {
        Span<byte> sig = stackalloc byte[3];
        _current ??= new BZip2InputStream(_file) { IsStreamOwner = false };
        while (true)
        {
            int n = _current.Read(buffer);
            if (n > 0) return n;
            // End of this stream: another one follows only if the next bytes are a bzip2 signature.
            long pos = _file.Position;
            int got = _file.ReadAtLeast(sig, 3, throwOnEndOfStream: false);
            _file.Position = pos;
            if (got < 3 || sig[0] != (byte)'B' || sig[1] != (byte)'Z' || sig[2] != (byte)'h') return 0;
            _current.Dispose();
            _current = new BZip2InputStream(_file) { IsStreamOwner = false };
        }
    }

    public override int ReadByte()
    {
        Span<byte> one = stackalloc byte[1];
        return Read(one) == 1 ? one[0] : -1;
    }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _current?.Dispose();
            _file.Dispose();
        }
        base.Dispose(disposing);
    }
}

/// <summary>A fault in bzip2 data, already described in RegPS's words (see <see cref="ConcatenatedBZip2Stream"/>).</summary>
internal sealed class Bzip2DataException(string message, Exception inner) : IOException(message, inner);
