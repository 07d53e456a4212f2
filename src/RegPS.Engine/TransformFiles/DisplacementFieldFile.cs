using RegPS.Engine.Registration;
using RegPS.Engine.Images;
using RegPS.Engine.IO;

namespace RegPS.Engine.TransformFiles;

/// <summary>
/// Displacement fields as the NIfTI files ITK and ANTs read and write: a 5-D image (X, Y, Z, 1, C) on the field's grid,
/// intent code 1007 (vector), the C component planes stored one after the other, and the vectors in LPS millimetres
/// (the x and y components of RegPS's RAS displacements negated). A file with intent 1006 (displacement vectors, which
/// ITK 5.4 reads as RAS) is read without the flip.
/// </summary>
public static class DisplacementFieldFile
{
    public const int IntentVector = 1007;
    public const int IntentDispVect = 1006;

    public static void Write(string path, DisplacementField field, bool overwrite = false, CancellationToken ct = default)
    {
        var g = field.Grid;
        int c = field.Components, n = g.VoxelCount;
        var values = field.Values;
        var planes = new float[(long)n * c];
        for (int comp = 0; comp < c; comp++)
        {
            float sign = comp < 2 ? -1f : 1f; // RAS -> LPS
            int baseOut = comp * n;
            for (int v = 0; v < n; v++) planes[baseOut + v] = sign * values[v * c + comp];
        }
        var h = new NiftiHeader
        {
            Dim = new long[] { 5, g.NX, g.NY, g.NZ, 1, c, 1, 1 },
            IntentCode = IntentVector,
            XyztUnits = 2, // millimetres
            Description = "RegPS displacement field (ITK/ANTs: LPS mm)",
        };
        var image = new Image(g, planes, c, null, null, "float32", h);
        NiftiWriter.Write(image, path, NiftiDataType.Float32, overwrite, ct);
    }

    public static DisplacementField Read(string path, CancellationToken ct = default)
    {
        var image = NiftiReader.Read(path, null, ct);
        var h = image.SourceHeader!;
        if (h.Dim[0] != 5 || h.Dim[4] != 1 || h.Dim[5] is not (2 or 3))
            throw new ImageFormatException(path, $"not a displacement field: expected a 5-D image (X, Y, Z, 1, 2 or 3 components), found dim {string.Join(",", h.Dim.Skip(1).Take((int)Math.Max(0, Math.Min(7, h.Dim[0]))))}");
        int c = (int)h.Dim[5];
        var g = image.Grid;
        if (c == 2)
        {
            if (g.NZ != 1) throw new ImageFormatException(path, "a field with 2 components must have one slice");
            g = new Grid(g.NX, g.NY, 1, g.GridToWorld, 2);
        }
        else if (g.Dimension != 3) g = new Grid(g.NX, g.NY, g.NZ, g.GridToWorld, 3);
        bool lps = h.IntentCode != IntentDispVect;
        int n = g.VoxelCount;
        var src = image.Voxels;
        var interleaved = new float[(long)n * c];
        for (int comp = 0; comp < c; comp++)
        {
            float sign = lps && comp < 2 ? -1f : 1f;
            int baseIn = comp * n;
            for (int v = 0; v < n; v++)
            {
                float value = src[baseIn + v];
                if (!float.IsFinite(value)) throw new ImageFormatException(path, $"the field has a non-finite value at voxel {v}, component {comp}");
                interleaved[v * c + comp] = sign * value;
            }
        }
        return new DisplacementField(g, interleaved);
    }
}
