# Frontend (Next.js 15), multi-stage on node:20-alpine ("Container Strategy").
FROM node:20-alpine AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY apps/web/package.json apps/web/
RUN npm ci --workspace apps/web

FROM node:20-alpine AS build
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY apps/web apps/web
RUN npm run build --workspace apps/web

FROM node:20-alpine
ENV NODE_ENV=production PORT=3000
WORKDIR /app
COPY --from=build /app/apps/web/.next/standalone ./
USER 1000
EXPOSE 3000
CMD ["node", "server.js"]
