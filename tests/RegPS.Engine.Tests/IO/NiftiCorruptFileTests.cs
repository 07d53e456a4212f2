using System.Buffers.Binary;
using System.IO.Compression;
using RegPS.Engine.Images;
using RegPS.Engine.IO;

namespace RegPS.Engine.Tests.IO;

/// <summary>Bad input gives an ImageFormatException naming the file and the problem, never a crash or a huge allocation.</summary>
public class NiftiCorruptFileTests : IDisposable
{
    private readonly TempDir _dir = new("regps-corrupt");

    public void Dispose() => _dir.Dispose();

    /// <summary>A valid little-endian NIfTI-1 (or -2) file of 4x5x6 int16, as bytes.</summary>
    private byte[] ValidFile(int version = 1, int nx = 4, int ny = 5, int nz = 6)
    {
        var header = new NiftiHeader { Version = version, Magic = version == 2 ? "n+2" : "n+1" };
        var img = new Image(Grid.Create3D(nx, ny, nz, 2, 2, 2), Enumerable.Range(0, nx * ny * nz).Select(i => (float)i).ToArray(), 1, null, null, "int16", header);
        string path = _dir.File($"valid-{Guid.NewGuid():N}.nii");
        NiftiWriter.Write(img, path, NiftiDataType.Source);
        var bytes = File.ReadAllBytes(path);
        File.Delete(path);
        return bytes;
    }

    private string Save(string name, byte[] bytes)
    {
        string path = _dir.File(name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static byte[] Gzip(byte[] raw)
    {
        using var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true)) gz.Write(raw);
        return ms.ToArray();
    }

    private static byte[] Bzip2(byte[] raw)
    {
        using var ms = new MemoryStream();
        using (var bz = new ICSharpCode.SharpZipLib.BZip2.BZip2OutputStream(ms) { IsStreamOwner = false }) bz.Write(raw);
        return ms.ToArray();
    }

    private static ImageFormatException AssertBad(string path, params string[] problemWords)
    {
        var ex = Assert.Throws<ImageFormatException>(() => NiftiReader.Read(path));
        Assert.Equal(path, ex.FilePath);
        Assert.Contains(path, ex.Message);
        foreach (var w in problemWords)
            Assert.Contains(w, ex.Problem, StringComparison.OrdinalIgnoreCase);
        return ex;
    }

    private static void I16(byte[] b, int offset, short v) => BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(offset), v);
    private static void I32(byte[] b, int offset, int v) => BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(offset), v);
    private static void I64(byte[] b, int offset, long v) => BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(offset), v);
    private static void F32(byte[] b, int offset, float v) => BinaryPrimitives.WriteSingleLittleEndian(b.AsSpan(offset), v);

    [Fact]
    public void ValidFileReads()
    {
        var img = NiftiReader.Read(Save("ok.nii", ValidFile()));
        Assert.Equal(119f, img[3, 4, 5]);
        var img2 = NiftiReader.Read(Save("ok2.nii", ValidFile(2)));
        Assert.Equal(119f, img2[3, 4, 5]);
    }

    [Fact]
    public void WrongMagic()
    {
        var b = ValidFile();
        "xyz\0"u8.CopyTo(b.AsSpan(344));
        AssertBad(Save("magic.nii", b), "magic 'xyz'");
    }

    [Fact]
    public void AnalyzeHeaderWithoutMagicIsNamed()
    {
        var b = ValidFile();
        b.AsSpan(344, 4).Clear();
        AssertBad(Save("analyze.hdr", b), "Analyze");
    }

    [Fact]
    public void WrongHeaderSize()
    {
        var b = ValidFile();
        I32(b, 0, 123);
        AssertBad(Save("size.nii", b), "not a NIfTI file", "123");
    }

    [Fact]
    public void TruncatedAndEmptyHeaders()
    {
        AssertBad(Save("short.nii", ValidFile()[..200]), "truncated header");
        AssertBad(Save("empty.nii", Array.Empty<byte>()), "truncated header");
        AssertBad(Save("short.nii.gz", Gzip(ValidFile()[..300])), "truncated header");
    }

    [Fact]
    public void TruncatedData()
    {
        var b = ValidFile();
        AssertBad(Save("trunc.nii", b[..^10]), "truncated data");
        AssertBad(Save("trunc-in-gzip.nii.gz", Gzip(b[..^10])), "truncated data");
    }

    [Fact]
    public void GzipStreamThatEndsEarly()
    {
        var gz = Gzip(Enumerable.Range(0, 1).SelectMany(_ => ValidFile(1, 40, 50, 60)).ToArray());
        AssertBad(Save("cut.nii.gz", gz[..(gz.Length / 2)]), "truncated");
    }

    [Fact]
    public void GzipThatDecompressesPastTheDeclaredSize()
    {
        var b = ValidFile().Concat(new byte[100]).ToArray();
        AssertBad(Save("long.nii.gz", Gzip(b)), "decompresses past");
    }

    [Theory]
    [InlineData(3)]      // the signature only
    [InlineData(10)]     // inside the first block's header
    [InlineData(-1)]     // half of the stream
    [InlineData(-2)]     // all but the end-of-stream marker and checksum
    public void TruncatedBzip2IsReportedLikeTruncatedGzip(int keep)
    {
        var bz = Bzip2(ValidFile(1, 40, 50, 60));
        int n = keep switch { -1 => bz.Length / 2, -2 => bz.Length - 6, _ => keep };
        var ex = AssertBad(Save($"cut{keep}.nii.bz2", bz[..n]), "truncated", "bzip2");
        Assert.DoesNotContain("BZip2 input stream", ex.Message); // the library's words are not the message

        // The same cuts of a .nii.gz are reported with the same words (except the last: .NET's GZipStream does not
        // notice a missing gzip trailer, a known gap).
        if (keep == -2) return;
        var gz = Gzip(ValidFile(1, 40, 50, 60));
        int m = keep == -1 ? gz.Length / 2 : keep;
        AssertBad(Save($"cut{keep}.nii.gz", gz[..m]), "truncated", "gzip");
    }

    [Fact]
    public void CorruptBzip2NamesTheFileAndTheProblem()
    {
        var bz = Bzip2(ValidFile(1, 40, 50, 60));
        for (int i = 40; i < bz.Length - 20; i += 7) bz[i] ^= 0x5A;
        var ex = AssertBad(Save("garbage.nii.bz2", bz), "corrupt", "bzip2");
        Assert.DoesNotContain("BZip2 input stream", ex.Message);

        var flipped = Bzip2(ValidFile(1, 40, 50, 60));
        flipped[flipped.Length / 2] ^= 0x01; // one bit: the block's CRC no longer matches
        AssertBad(Save("onebit.nii.bz2", flipped), "corrupt", "bzip2");
    }

    [Fact]
    public void CorruptGzip()
    {
        var gz = Gzip(ValidFile());
        for (int i = 20; i < gz.Length - 8; i++) gz[i] = (byte)(i * 37);
        AssertBad(Save("garbage.nii.gz", gz), "gzip");
    }

    [Theory]
    [InlineData(1, 0, "dim[1] is 0")]
    [InlineData(2, -5, "dim[2] is -5")]
    [InlineData(0, 0, "dim[0]")]
    [InlineData(0, 9, "dim[0]")]
    public void BadDims(int index, short value, string words)
    {
        var b = ValidFile();
        I16(b, 40 + 2 * index, value);
        AssertBad(Save($"dim{index}_{value}.nii", b), words);
    }

    [Fact]
    public void DimensionsSixAndSevenAreRejected()
    {
        var b = ValidFile();
        I16(b, 40, 6);
        I16(b, 40 + 2 * 6, 2);
        AssertBad(Save("dim6.nii", b), "dimensions 6 and 7");
    }

    [Fact]
    public void HugeHeaderInATinyFileAllocatesNothingBig()
    {
        // NIfTI-1: 32767^3 voxels; NIfTI-2: 100000^3; both more than one image can hold.
        var b1 = ValidFile();
        for (int i = 1; i <= 3; i++) I16(b1, 40 + 2 * i, short.MaxValue);
        var b2 = ValidFile(2);
        for (int i = 1; i <= 3; i++) I64(b2, 16 + 8 * i, 100_000);
        // Plausible but lying: 1000^3 int16 (2 GB) in a file of a few hundred bytes, plain and gzip.
        var b3 = ValidFile();
        for (int i = 1; i <= 3; i++) I16(b3, 40 + 2 * i, 1000);
        long before = GC.GetAllocatedBytesForCurrentThread();
        AssertBad(Save("huge1.nii", b1[..400]), "more than one image can hold");
        AssertBad(Save("huge2.nii", b2[..560]), "more than one image can hold");
        AssertBad(Save("huge3.nii", b3), "truncated data");
        AssertBad(Save("huge3.nii.gz", Gzip(b3)), "truncated data");
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < 64L << 20, $"reading lying headers allocated {allocated:N0} bytes");
    }

    [Fact]
    public void SizesThatOverflow()
    {
        var b = ValidFile(2);
        for (int i = 1; i <= 3; i++) I64(b, 16 + 8 * i, 1L << 40);
        AssertBad(Save("overflow.nii", b), "overflows");
    }

    [Theory]
    [InlineData(32, "complex")]
    [InlineData(1792, "complex")]
    [InlineData(1536, "float128")]
    [InlineData(9999, "datatype code 9999")]
    public void UnsupportedDatatypes(short code, string words)
    {
        var b = ValidFile();
        I16(b, 70, code);
        AssertBad(Save($"type{code}.nii", b), words);
    }

    [Fact]
    public void BitpixInconsistentWithDatatype()
    {
        var b = ValidFile();
        I16(b, 72, 32);
        AssertBad(Save("bitpix.nii", b), "bitpix 32", "int16");
    }

    [Fact]
    public void VoxOffsetBeyondTheFile()
    {
        var b = ValidFile();
        F32(b, 108, 1_000_000);
        AssertBad(Save("offset.nii", b), "vox_offset", "beyond the end");
        AssertBad(Save("offset.nii.gz", Gzip(b)), "vox_offset");
    }

    [Fact]
    public void VoxOffsetInsideTheHeader()
    {
        var b = ValidFile();
        F32(b, 108, 100);
        AssertBad(Save("inside.nii", b), "inside the header");
    }

    [Fact]
    public void VoxOffsetZeroInASingleFileMeansRightAfterTheHeader()
    {
        var b = ValidFile();
        F32(b, 108, 0);
        var img = NiftiReader.Read(Save("zero-offset.nii", b));
        Assert.Equal(119f, img[3, 4, 5]);
        Assert.Contains(img.SourceHeader!.Warnings, w => w.Contains("vox_offset", StringComparison.Ordinal));
    }

    [Fact]
    public void ValidSlopeWithNonFiniteIntercept()
    {
        var b = ValidFile();
        F32(b, 112, 2);
        F32(b, 116, float.NaN);
        AssertBad(Save("inter.nii", b), "scl_inter");
    }

    [Fact]
    public void SlopeThatOverflowsFloat32IsRefusedNotTurnedIntoInfinity()
    {
        // int16 voxels 0..119 times 3e38: every voxel from 2 on is beyond float32's 3.4e38 (nibabel gives finite float64).
        var b = ValidFile();
        F32(b, 112, 3e38f);
        var ex = AssertBad(Save("slope.nii", b), "scl_slope", "float32", "voxel 2 ");
        Assert.Contains("to 6.0000000", ex.Problem); // 2 x 3e38, computed in double
        AssertBad(Save("slope.nii.gz", Gzip(b)), "scl_slope");
        AssertBad(Save("slope.nii.bz2", Bzip2(b)), "scl_slope");

        // A huge intercept does the same.
        b = ValidFile();
        F32(b, 112, 1e36f);
        F32(b, 116, 3.3e38f);   // 3.3e38 + k 1e36 passes float32's 3.4028e38 at k = 11
        AssertBad(Save("inter-big.nii", b), "scl_inter", "voxel 11 ");
    }

    [Fact]
    public void LargeSlopeWhoseValuesFitFloat32IsRead()
    {
        var b = ValidFile();
        F32(b, 112, 2.5e36f); // 119 x 2.5e36 = 2.975e38 < 3.4e38
        var img = NiftiReader.Read(Save("slope-ok.nii", b));
        var v = img.ToArray();
        Assert.All(v, x => Assert.True(float.IsFinite(x)));
        for (int i = 0; i < v.Length; i++)
            Assert.True(NiftiTestHelpers.CloseAsFloat(v[i], i * (double)2.5e36f), $"voxel {i}: {v[i]}");
    }

    /// <summary>A 4x5x6 float64 NIfTI-1 file holding <paramref name="values"/> (120 of them).</summary>
    private byte[] Float64File(double[] values)
    {
        var b = ValidFile();
        I16(b, 70, 64);  // datatype float64
        I16(b, 72, 64);  // bitpix
        var file = new byte[352 + 8 * values.Length];
        b.AsSpan(0, 352).CopyTo(file);
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteDoubleLittleEndian(file.AsSpan(352 + 8 * i), values[i]);
        return file;
    }

    [Fact]
    public void Float64BeyondFloat32IsRefusedButInfinityOnDiskStays()
    {
        var values = Enumerable.Range(0, 120).Select(i => (double)i).ToArray();
        values[7] = 1e300;
        AssertBad(Save("f64.nii", Float64File(values)), "float64", "voxel 7 ", "float32");

        values[7] = double.PositiveInfinity;
        values[8] = double.NaN;
        values[9] = -3.0e38; // fits float32
        var img = NiftiReader.Read(Save("f64-inf.nii", Float64File(values)));
        Assert.Equal(float.PositiveInfinity, img.ToArray()[7]);
        Assert.True(float.IsNaN(img.ToArray()[8]));
        Assert.Equal(-3.0e38f, img.ToArray()[9]);
    }

    [Fact]
    public void SingularSform()
    {
        var b = ValidFile();
        I16(b, 254, 1); // sform_code
        b.AsSpan(280, 48).Clear();
        AssertBad(Save("singular.nii", b), "singular");
    }

    [Fact]
    public void QuaternionLongerThanOne()
    {
        var b = ValidFile();
        I16(b, 254, 0); // sform_code
        I16(b, 252, 1); // qform_code
        for (int i = 0; i < 3; i++) F32(b, 256 + 4 * i, 0.9f);
        AssertBad(Save("quaternion.nii", b), "quaternion");
    }

    [Fact]
    public void PairWithoutItsImage()
    {
        var b = ValidFile();
        "ni1\0"u8.CopyTo(b.AsSpan(344));
        F32(b, 108, 0);
        AssertBad(Save("lonely.hdr", b[..348]), ".img");
    }

    [Fact]
    public void MissingFiles()
    {
        Assert.Throws<FileNotFoundException>(() => NiftiReader.Read(_dir.File("nothing.nii")));
        File.WriteAllBytes(_dir.File("orphan.img"), new byte[10]);
        var ex = Assert.Throws<FileNotFoundException>(() => NiftiReader.Read(_dir.File("orphan.img")));
        Assert.Contains("orphan.hdr", ex.Message);
    }

    [Fact]
    public void HeaderOnlyReadChecksTheHeaderToo()
    {
        var b = ValidFile();
        I16(b, 72, 8);
        var ex = Assert.Throws<ImageFormatException>(() => NiftiReader.ReadHeader(Save("hdr-bitpix.nii", b)));
        Assert.Contains("bitpix", ex.Problem);
    }
}
