using System.Buffers.Binary;
using RegPS.Engine.Images;
using RegPS.Engine.IO;
using static RegPS.Engine.Tests.IO.NiftiTestHelpers;

namespace RegPS.Engine.Tests.IO;

/// <summary>RegPS writes and reads back (no Python needed).</summary>
public class NiftiRoundTripTests : IDisposable
{
    private readonly TempDir _dir = new("regps-roundtrip");

    public void Dispose() => _dir.Dispose();

    private static Image Oblique3D(float[] voxels, int nx = 5, int ny = 6, int nz = 7, int volumes = 1) =>
        new(new Grid(nx, ny, nz, Oblique()), voxels, volumes);

    [Theory]
    [InlineData(NiftiDataType.UInt8, 0, 255)]
    [InlineData(NiftiDataType.Int8, -128, 127)]
    [InlineData(NiftiDataType.Int16, -32768, 32767)]
    [InlineData(NiftiDataType.UInt16, 0, 65535)]
    [InlineData(NiftiDataType.Int32, -1000000, 1000000)]
    [InlineData(NiftiDataType.UInt32, 0, 1000000)]
    [InlineData(NiftiDataType.Int64, -1000000, 1000000)]
    [InlineData(NiftiDataType.UInt64, 0, 1000000)]
    [InlineData(NiftiDataType.Float32, -1e6, 1e6)]
    [InlineData(NiftiDataType.Float64, -1e6, 1e6)]
    public void WholeNumbersInRangeRoundTripExactlyWithoutScaling(NiftiDataType type, double min, double max)
    {
        var rng = new Random(1);
        var v = Enumerable.Range(0, 210).Select(_ => (float)Math.Round(min + rng.NextDouble() * (max - min))).ToArray();
        v[0] = (float)min; v[1] = (float)max;
        string path = _dir.File($"{type}.nii");
        NiftiWriter.Write(Oblique3D(v), path, type);
        var back = NiftiReader.Read(path);
        Assert.Equal(v, back.Voxels.ToArray());
        Assert.Equal(type.ToString().ToLowerInvariant(), back.DataType);
        Assert.Equal(1.0, back.SourceHeader!.SclSlope);
        Assert.Equal(0.0, back.SourceHeader.SclInter);
    }

    [Theory]
    [InlineData(NiftiDataType.UInt8)]
    [InlineData(NiftiDataType.Int8)]
    [InlineData(NiftiDataType.Int16)]
    [InlineData(NiftiDataType.UInt16)]
    [InlineData(NiftiDataType.Int32)]
    [InlineData(NiftiDataType.UInt32)]
    public void FractionalValuesAreScaledToTheIntegerType(NiftiDataType type)
    {
        var v = RandomVoxels(210, 2, 50);
        v[5] = float.NaN;
        v[6] = float.PositiveInfinity;
        string path = _dir.File($"scaled-{type}.nii.gz");
        NiftiWriter.Write(Oblique3D(v), path, type);
        var back = NiftiReader.Read(path);
        double slope = Math.Abs(back.SourceHeader!.SclSlope);
        Assert.NotEqual(1.0, slope);
        float finiteMax = v.Where(float.IsFinite).Max();
        for (int i = 0; i < v.Length; i++)
        {
            double expected = float.IsNaN(v[i]) ? 0 : float.IsPositiveInfinity(v[i]) ? finiteMax : v[i];
            Assert.True(Math.Abs(back.Voxels[i] - expected) <= slope / 2 * 1.0001 + 1e-6, $"{type} voxel {i}: wrote {v[i]}, read {back.Voxels[i]}, slope {slope}");
        }
    }

    [Fact]
    public void SourceTypeReusesTheSourceScalingSoAnUnchangedImageRoundTripsExactly()
    {
        string first = _dir.File("source-a.nii");
        NiftiWriter.Write(Oblique3D(RandomVoxels(210, 3, 300)), first, NiftiDataType.Int16);
        var a = NiftiReader.Read(first);
        string second = _dir.File("source-b.nii.gz");
        NiftiWriter.Write(a, second, NiftiDataType.Source);
        var b = NiftiReader.Read(second);
        Assert.Equal("int16", b.DataType);
        Assert.Equal(a.SourceHeader!.SclSlope, b.SourceHeader!.SclSlope);
        Assert.Equal(a.SourceHeader.SclInter, b.SourceHeader.SclInter);
        Assert.Equal(a.Voxels.ToArray(), b.Voxels.ToArray());
        // Raw bytes of the data are identical.
        var rawA = File.ReadAllBytes(first)[352..];
        using var gz = new System.IO.Compression.GZipStream(File.OpenRead(second), System.IO.Compression.CompressionMode.Decompress);
        using var ms = new MemoryStream();
        gz.CopyTo(ms);
        Assert.Equal(rawA, ms.ToArray()[352..]);
    }

    [Fact]
    public void DefaultIsFloat32AndKeepsNaN()
    {
        var v = RandomVoxels(210, 4, withSpecials: true);
        string path = _dir.File("float.nii");
        NiftiWriter.Write(Oblique3D(v), path);
        var back = NiftiReader.Read(path);
        Assert.Equal("float32", back.DataType);
        Assert.Equal(v, back.Voxels.ToArray());
        Assert.True(float.IsNaN(back.Voxels[0]));
        AssertMatrix(Rows(ToFloat32(Oblique())), back.Grid.GridToWorld, 0, "grid");
    }

    [Fact]
    public void TwoDimensionalAndFourDimensionalImages()
    {
        var g2 = Grid.Create2D(8, 9, 0.5, 0.7);
        var two = new Image(g2, RandomVoxels(72, 5));
        string p2 = _dir.File("two.nii");
        NiftiWriter.Write(two, p2);
        var back2 = NiftiReader.Read(p2);
        Assert.Equal(2, back2.Dimension);
        Assert.Equal(2, back2.SourceHeader!.Dim[0]);
        Assert.Equal(two.Voxels.ToArray(), back2.Voxels.ToArray());

        var four = Oblique3D(RandomVoxels(210 * 4, 6), volumes: 4);
        string p4 = _dir.File("four.nii.gz");
        NiftiWriter.Write(four, p4);
        var back4 = NiftiReader.Read(p4);
        Assert.Equal(4, back4.Volumes);
        Assert.Equal(four.Voxels.ToArray(), back4.Voxels.ToArray());
        Assert.Equal(four.Volume(2).Voxels.ToArray(), NiftiReader.Read(p4, 2).Voxels.ToArray());
        // The same volume from an uncompressed copy (read by seeking).
        string plain = _dir.File("four.nii");
        NiftiWriter.Write(back4, plain, NiftiDataType.Source);
        Assert.Equal(four.Volume(3).Voxels.ToArray(), NiftiReader.Read(plain, 3).Voxels.ToArray());
    }

    [Fact]
    public void ColourImagesRoundTripAsRgb24()
    {
        var g = Grid.Create3D(4, 3, 2);
        var rng = new Random(7);
        var colour = Enumerable.Range(0, 3 * 24).Select(_ => (float)rng.Next(256)).ToArray();
        var lum = Enumerable.Range(0, 24).Select(i => (float)(0.299 * colour[i] + 0.587 * colour[24 + i] + 0.114 * colour[48 + i])).ToArray();
        var img = new Image(g, lum, 1, colour, null, "rgb24");
        string path = _dir.File("rgb.nii.gz");
        NiftiWriter.Write(img, path, NiftiDataType.Source);
        var back = NiftiReader.Read(path);
        Assert.Equal("rgb24", back.DataType);
        Assert.True(back.IsColour);
        Assert.Equal(colour, back.ColourPlanes.ToArray());
        Assert.Equal(lum, back.Voxels.ToArray());
        // Without asking for rgb24 a colour image is written as luminance float32.
        string lumPath = _dir.File("lum.nii");
        NiftiWriter.Write(img, lumPath);
        Assert.False(NiftiReader.Read(lumPath).IsColour);
        Assert.Throws<ArgumentException>(() => NiftiWriter.Write(new Image(g, lum), _dir.File("nocolour.nii"), NiftiDataType.Rgb24));
    }

    [Fact]
    public void SourceHeaderFieldsAreKept()
    {
        var h = new NiftiHeader
        {
            Description = "kept description", IntentCode = 5, IntentName = "zscore", IntentP1 = 1.5, XyztUnits = 10,
            CalMin = -2, CalMax = 9, TOffset = 3.5, SliceStart = 1, SliceEnd = 5, SliceCode = 2, SliceDuration = 0.07,
            DimInfo = 57, AuxFile = "aux.txt", SFormCode = 1, QFormCode = 1,
        };
        h.PixDim[4] = 2.5;
        var img = new Image(new Grid(5, 6, 7, Oblique()), RandomVoxels(420, 8), 2, null, null, "float32", h);
        string path = _dir.File("fields.nii");
        NiftiWriter.Write(img, path);
        var r = NiftiReader.ReadHeader(path);
        Assert.Equal("kept description", r.Description);
        Assert.Equal(5, r.IntentCode);
        Assert.Equal("zscore", r.IntentName);
        Assert.Equal(1.5, r.IntentP1);
        Assert.Equal(10, r.XyztUnits);
        Assert.Equal((-2.0, 9.0), (r.CalMin, r.CalMax));
        Assert.Equal(3.5, r.TOffset);
        Assert.Equal((1L, 5L, 2), (r.SliceStart, r.SliceEnd, r.SliceCode));
        Assert.Equal(0.07, r.SliceDuration, 6);
        Assert.Equal(57, r.DimInfo);
        Assert.Equal("aux.txt", r.AuxFile);
        Assert.Equal(2.5, r.PixDim[4]);
        Assert.Equal((1, 1), (r.SFormCode, r.QFormCode));
    }

    [Fact]
    public void QformAloneGivesTheSameGrid()
    {
        // Zero the sform_code: the reader then uses the qform the writer decomposed.
        var m = Oblique() * Matrix4.Scaling(1, 1, -1); // negative determinant: qfac -1
        string path = _dir.File("qform.nii");
        NiftiWriter.Write(new Image(new Grid(5, 6, 7, m), RandomVoxels(210, 9)), path);
        var bytes = File.ReadAllBytes(path);
        BinaryPrimitives.WriteInt16LittleEndian(bytes.AsSpan(254), 0);
        File.WriteAllBytes(path, bytes);
        var back = NiftiReader.Read(path);
        Assert.Equal(-1.0, back.SourceHeader!.PixDim[0]);
        Assert.True(back.Grid.GridToWorld.MaxAbsDifference(m) < 1e-5, back.Grid.GridToWorld.ToString());
    }

    [Fact]
    public void ShearedMatricesWriteNoQform()
    {
        var m = Oblique().ToArray();
        m[1] += 0.4;
        string path = _dir.File("shear.nii");
        NiftiWriter.Write(new Image(new Grid(5, 6, 7, new Matrix4(m)), RandomVoxels(210, 10)), path);
        var h = NiftiReader.ReadHeader(path);
        Assert.Equal(0, h.QFormCode);
        Assert.Equal(2, h.SFormCode);
    }

    [Fact]
    public void PixdimOnlyFallbackIsNibabelsCentredAffine()
    {
        string path = _dir.File("pixdim.nii");
        NiftiWriter.Write(new Image(Grid.Create3D(5, 6, 7, 1.5, 2, 2.5), new float[210]), path);
        var bytes = File.ReadAllBytes(path);
        BinaryPrimitives.WriteInt16LittleEndian(bytes.AsSpan(252), 0);
        BinaryPrimitives.WriteInt16LittleEndian(bytes.AsSpan(254), 0);
        File.WriteAllBytes(path, bytes);
        var g = NiftiReader.Read(path).Grid.GridToWorld;
        var expected = new Matrix4(new double[] { -1.5, 0, 0, 3, 0, 2, 0, -5, 0, 0, 2.5, -7.5, 0, 0, 0, 1 });
        Assert.True(g.MaxAbsDifference(expected) < 1e-12, g.ToString());
    }

    [Fact]
    public void LargeSizesAreWrittenAsNifti2()
    {
        var g = Grid.Create2D(40000, 2);
        var v = RandomVoxels(80000, 11);
        string path = _dir.File("wide.nii");
        NiftiWriter.Write(new Image(g, v), path);
        var back = NiftiReader.Read(path);
        Assert.Equal(2, back.SourceHeader!.Version);
        Assert.Equal("n+2", back.SourceHeader.Magic);
        Assert.Equal(v, back.Voxels.ToArray());
    }

    [Fact]
    public void WriterRejectsOtherExtensions()
    {
        var img = Oblique3D(new float[210]);
        var ex = Assert.Throws<ArgumentException>(() => NiftiWriter.Write(img, _dir.File("x.img")));
        Assert.Contains(".nii.gz", ex.Message);
        Assert.Throws<ArgumentException>(() => NiftiWriter.Write(img, _dir.File("x.nii.bz2")));
    }

    [Fact]
    public void ExistingFilesNeedOverwrite()
    {
        var img = Oblique3D(new float[210]);
        string path = _dir.File("exists.nii");
        File.WriteAllText(path, "precious");
        var ex = Assert.Throws<IOException>(() => NiftiWriter.Write(img, path));
        Assert.Contains(path, ex.Message);
        Assert.Equal("precious", File.ReadAllText(path));
        NiftiWriter.Write(img, path, overwrite: true);
        Assert.Equal(5, NiftiReader.Read(path).Grid.NX);
        Assert.Equal(new[] { "exists.nii" }, Directory.GetFiles(_dir.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void CancelledWritesLeaveNothingBehind()
    {
        var img = Oblique3D(new float[210]);
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        string path = _dir.File("cancelled.nii.gz");
        Assert.ThrowsAny<OperationCanceledException>(() => NiftiWriter.Write(img, path, ct: cts.Token));
        Assert.Empty(Directory.GetFiles(_dir.Path));
    }

    [Fact]
    public void CancelledReadsThrow()
    {
        string path = _dir.File("to-cancel.nii");
        NiftiWriter.Write(Oblique3D(new float[210]), path);
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => NiftiReader.Read(path, ct: cts.Token));
    }

    [Fact]
    public void QfacZeroIsTreatedAsOneWithAWarning()
    {
        string path = _dir.File("qfac0.nii");
        NiftiWriter.Write(new Image(new Grid(5, 6, 7, Oblique()), new float[210]), path);
        var bytes = File.ReadAllBytes(path);
        BinaryPrimitives.WriteInt16LittleEndian(bytes.AsSpan(254), 0); // sform_code 0: the qform is used
        BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(76), 0f); // pixdim[0]
        File.WriteAllBytes(path, bytes);
        var img = NiftiReader.Read(path);
        Assert.Contains(img.SourceHeader!.Warnings, w => w.Contains("qfac", StringComparison.Ordinal));
        Assert.True(img.Grid.GridToWorld.MaxAbsDifference(Oblique()) < 1e-5);
    }

    [Fact]
    public void ChunkBoundariesDoNotMatter()
    {
        int old = NiftiReader.ChunkVoxels;
        try
        {
            NiftiReader.ChunkVoxels = 64;
            var v = RandomVoxels(5 * 6 * 7 * 3, 12);
            string path = _dir.File("chunks.nii.gz");
            NiftiWriter.Write(Oblique3D(v, volumes: 3), path);
            Assert.Equal(v, NiftiReader.Read(path).Voxels.ToArray());
            Assert.Equal(v.AsSpan(210, 210).ToArray(), NiftiReader.Read(path, 1).Voxels.ToArray());
        }
        finally { NiftiReader.ChunkVoxels = old; }
    }
}
